"""A recorder process killed with SIGKILL mid-segment loses at most the fragment being
written, and after a restart the database and the files agree (`guetteur check` is clean).
Runs the real `guetteur serve` process against real simulated cameras."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
import pytest

from support import ServerProcess, SimulatedCameras, wait_until

pytestmark = pytest.mark.integration


def _segments(server: ServerProcess) -> list[dict[str, object]]:
    import sqlite3

    db = sqlite3.connect(server.data_dir / "guetteur.db")
    try:
        rows = db.execute("SELECT storage_key, start_utc_us, end_utc_us, recovered, size_bytes "
                          "FROM segment WHERE stream='main' ORDER BY start_utc_us").fetchall()
    finally:
        db.close()
    return [dict(zip(("key", "start", "end", "recovered", "size"), r, strict=True))
            for r in rows]


def test_sigkill_mid_segment_then_restart_is_consistent(tmp_path: Path) -> None:
    sim = SimulatedCameras(tmp_path, cameras=1).start()
    server = ServerProcess(tmp_path / "var", segment_duration_s=6)
    try:
        added = server.cli("camera", "add", "CAM-1", "--url", sim.url(0))
        assert added.returncode == 0, added.stderr
        server.start()
        wait_until(lambda: len(_segments(server)) >= 1, 40, "a first indexed segment")
        folder = server.data_dir / "segments" / "cam000001" / "main"
        indexed = {s["key"] for s in _segments(server)}

        def open_file() -> Path | None:
            files = [p for p in folder.glob("*.mp4")
                     if f"cam000001/main/{p.name}" not in indexed]
            files = [p for p in files if p.stat().st_size > 1_500_000]  # > ~3 s written
            return files[0] if files else None

        current = wait_until(open_file, 30, "a segment being written")
        ffmpegs = [p for p in psutil.Process(server.proc.pid).children() if "ffmpeg" in p.name()]
        size_at_kill = current.stat().st_size
        kill_time_us = time.time_ns() // 1000
        server.kill()
        # the recorder's ffmpeg dies with it (PR_SET_PDEATHSIG): nobody writes behind our back
        wait_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                                   for p in ffmpegs), 5, "ffmpeg to die with its parent")
        server.start()

        def recovered() -> list[dict[str, object]]:
            return [s for s in _segments(server) if s["recovered"]]

        rec = wait_until(recovered, 30, "the cut segment to be indexed")[0]
        assert rec["key"] == f"cam000001/main/{current.name}"
        # at most the fragment being written (~200 ms, < 150 kB at 4 Mbit/s) is lost
        assert int(rec["size"]) >= size_at_kill - 300_000
        start, end = int(rec["start"]), int(rec["end"])
        assert end >= kill_time_us - 1_000_000 - (kill_time_us - start) * 0.02
        wait_until(lambda: len(_segments(server)) >= len(indexed) + 2, 30, "recording again")
        assert server.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a clean shutdown
        checked = server.cli("check", "--json")
        report = json.loads(checked.stdout)
        assert checked.returncode == 0 and report["clean"], checked.stdout + checked.stderr
        assert not report["being_written"]
        gaps = server.cli("status", "--json")
        assert gaps.returncode == 0
    finally:
        server.kill()
        sim.stop()
