"""A running `guetteur serve` against a real simulated camera: playback reaches a few seconds
behind live (the open segment, with the default 60 s segments), a killed ffmpeg loses only
its last fragment and its gap says `recorder_crashed`, a camera that goes away gives
`camera_offline`, and `guetteur check` on the running server finds no orphans."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from guetteur.adapters.media.fmp4 import scan_bytes
from support import ServerProcess, SimulatedCameras, wait_until

pytestmark = pytest.mark.integration
SECRET = "test-secret-key-0123456789-abcdefghijkl"  # ServerProcess's


def now_us() -> int:
    return time.time_ns() // 1000


def rows(server: ServerProcess, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(server.data_dir / "guetteur.db")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatedCameras]:
    cams = SimulatedCameras(tmp_path, cameras=1).start()
    try:
        yield cams
    finally:
        cams.stop()


def start_server(tmp_path: Path, sim: SimulatedCameras, make_container: Any,
                 **settings: Any) -> tuple[ServerProcess, httpx.Client]:
    """A server recording CAM-1 (main stream only), and an HTTP client logged in as an
    operator granted live and playback on it (session opened in the shared database)."""
    server = ServerProcess(tmp_path / "var", **settings)
    added = server.cli("camera", "add", "CAM-1", "--url", sim.url(0))
    assert added.returncode == 0, added.stderr
    server.start()
    c = make_container(f"sqlite:///{server.data_dir / 'guetteur.db'}",
                       data_dir=server.data_dir, secret_key=SECRET)
    who = c.accounts.add_user("operateur", "correct-horse-battery", "operator")
    for action in ("live", "playback"):
        c.grants.add("operateur", action, "cameras", "1")
    client = httpx.Client(base_url=server.base_url, timeout=10)
    client.cookies.set("guetteur_session", c.accounts.open_session(who, "127.0.0.1"))
    return server, client


def check_json(server: ServerProcess) -> dict[str, Any]:
    done = server.cli("check", "--json")
    assert done.returncode in (0, 2), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_playback_reaches_the_live_edge_with_default_segments(
        tmp_path: Path, sim: SimulatedCameras, make_container: Any) -> None:
    server, client = start_server(tmp_path, sim, make_container)  # 60 s segments
    try:
        def at_live_edge() -> tuple[int, dict[str, Any]] | None:
            asked = now_us()
            r = client.get("/api/cameras/1/at", params={"t": asked - 4_000_000})
            if r.status_code == 200 and r.json()["start_utc_us"] <= asked - 4_000_000:
                return asked, r.json()
            return None

        asked, seg = wait_until(at_live_edge, 30, "/at 4 s behind live to answer")
        # no segment is finished yet: it is the one being written
        assert not rows(server, "SELECT id FROM segment")
        assert seg["open"] is True and seg["segment_id"] is None
        assert seg["start_utc_us"] <= asked - 4_000_000 < seg["end_utc_us"]
        assert asked - seg["end_utc_us"] < 3_000_000  # the newest playable instant

        # the playlist of a range reaching now lists it, up to its last complete fragment
        r = client.get("/api/cameras/1/playback.m3u8",
                       params={"from": asked - 600_000_000, "to": asked + 60_000_000})
        assert r.status_code == 200
        uris = [line for line in r.text.splitlines() if line.startswith("/api/")]
        assert uris and all("/recording/" in u for u in uris), r.text
        init_len = int(re.search(r'BYTERANGE="(\d+)@0"', r.text).group(1))  # type: ignore[union-attr]
        frag_len, frag_at = map(int, re.search(  # type: ignore[union-attr]
            r"#EXT-X-BYTERANGE:(\d+)@(\d+)", r.text).groups())
        assert frag_at == init_len and frag_len > 0
        init = client.get(uris[-1], headers={"range": f"bytes=0-{init_len - 1}"})
        body = client.get(uris[-1], headers={"range": f"bytes={frag_at}-{frag_at + frag_len - 1}"})
        assert init.status_code == body.status_code == 206
        data = init.content + body.content
        scan = scan_bytes(data)
        assert scan.init is not None and scan.fragments >= 5
        assert scan.complete_bytes == len(data)  # a valid prefix, ending at a fragment end
        whole = client.get(uris[-1])  # no Range: everything complete so far, nothing more
        assert whole.status_code == 200 and len(whole.content) >= len(data)
        assert scan_bytes(whole.content).complete_bytes == len(whole.content)
        clip = tmp_path / "open.mp4"
        clip.write_bytes(whole.content)
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                "-of", "csv=p=0", str(clip)], capture_output=True, text=True)
        assert probe.returncode == 0 and float(probe.stdout) > 3, probe.stderr

        # the timeline shows the current minute as recorded
        t = client.get("/api/cameras/1/timeline",
                       params={"from": asked - 60_000_000, "to": asked + 60_000_000}).json()
        assert any(s["start_utc_us"] <= asked - 3_000_000 < s["end_utc_us"] for s in t["spans"])

        # `guetteur check` on the running server: the open file is no orphan
        report = check_json(server)
        assert report["clean"] and not report["orphan_files"], report
        name = seg["media_url"].split("/recording/")[1].split("?")[0]
        assert report["being_written"] == [f"cam000001/main/{name}"]
        # and `--repair` leaves the file being written alone (no row, not cut)
        size_before = (server.data_dir / "segments" / "cam000001" / "main" / name).stat().st_size
        repaired = server.cli("check", "--repair", "--json")
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert not json.loads(repaired.stdout)["repairs"]
        assert not rows(server, "SELECT id FROM segment")
        assert (server.data_dir / "segments" / "cam000001" / "main" / name).stat().st_size \
            >= size_before
    finally:
        client.close()
        server.stop()


def _ffmpeg_of(server: ServerProcess) -> psutil.Process:
    assert server.proc is not None
    found = [p for p in psutil.Process(server.proc.pid).children() if "ffmpeg" in p.name()]
    assert len(found) == 1, found
    return found[0]


def test_killed_ffmpeg_is_indexed_at_once_and_gaps_say_why(
        tmp_path: Path, sim: SimulatedCameras, make_container: Any) -> None:
    server, client = start_server(tmp_path, sim, make_container, segment_duration_s=6,
                                  rtsp_timeout_s=2)
    folder = server.data_dir / "segments" / "cam000001" / "main"
    try:
        wait_until(lambda: rows(server, "SELECT id FROM segment"), 40, "a first segment")
        indexed = {k for (k,) in rows(server, "SELECT storage_key FROM segment")}

        def open_file() -> Path | None:
            files = [p for p in folder.glob("*.mp4") if f"cam000001/main/{p.name}" not in indexed
                     and p.stat().st_size > 1_000_000]
            return files[0] if files else None

        current = wait_until(open_file, 30, "a segment being written")
        key = f"cam000001/main/{current.name}"
        size_at_kill = current.stat().st_size
        _ffmpeg_of(server).send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        found = wait_until(lambda: rows(server, "SELECT recovered, size_bytes, end_utc_us FROM "
                                                f"segment WHERE storage_key = '{key}'"),
                           10, "the killed ffmpeg's file to be indexed")
        assert time.monotonic() - killed_at < 5
        recovered, size, end = found[0]
        assert recovered == 1 and size >= size_at_kill - 300_000
        seg_id = rows(server, f"SELECT id FROM segment WHERE storage_key = '{key}'")[0][0]
        media = client.get(f"/api/segments/{seg_id}/media")
        assert media.status_code == 200 and scan_bytes(media.content).complete_bytes == size

        gap = wait_until(lambda: rows(server, "SELECT reason, start_utc_us FROM recording_gap"),
                         30, "the gap after the restart")
        assert gap[0] == ("recorder_crashed", end)

        report = check_json(server)  # right after cuts, while the writer works
        assert report["clean"] and not report["orphan_files"], report

        sim.kill()  # the camera goes away: ffmpeg exits, the recorder retries
        wait_until(lambda: client.get("/api/cameras/1").json().get("state") == "reconnecting",
                   20, "reconnecting")
        time.sleep(1)
        sim.start()
        gaps = wait_until(lambda: (g := rows(server, "SELECT reason FROM recording_gap "
                                                     "ORDER BY start_utc_us"))[1:] and g,
                          60, "a second gap")
        assert gaps[1] == ("camera_offline",), gaps
        labels = {g["reason"] for g in client.get(
            "/api/cameras/1/timeline", params={"from": now_us() - 600_000_000}).json()["gaps"]}
        assert "camera_offline" in labels  # (the crash's hole, ~1 s, is drawn joined)
    finally:
        client.close()
        server.stop()
