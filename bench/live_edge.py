"""Playback to the live edge: how far behind live the newest playable instant is, through
`GET /api/cameras/{id}/at` and through the HLS playlist, against a finished-segments-only
index in the same run.

A real `guetteur serve` (default 60-s segments unless `--segment-s`) records one simulated
camera; an operator logs in through the real forms. Every `--interval-s` for `--seconds` it
measures, at the same instant `now`:
- via /at: walk `/at?t=` from 2 min back, segment after segment, to the last one answered;
  behind = now - its `end_utc_us`;
- via playlist: `playback.m3u8` of [now - 10 min, now + 1 min]; behind = now - (last entry's
  EXT-X-PROGRAM-DATE-TIME + EXTINF);
- baseline, finished segments only: now - the newest `end_utc_us` in the `segment` table
  (what playback could reach before the open segment was served);
- floor, newest byte on disk: now - mtime of the newest file (the live view follows that file).

    .venv/bin/python bench/live_edge.py [--seconds 90] [--segment-s 60]
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from _common import code_version, command_line, http_login, machine, percentile, table

from support import ServerProcess, SimulatedCameras, wait_until

USER, PASSWORD = "bench-operateur", "bench-operateur-password-42"


def now_us() -> int:
    return time.time_ns() // 1000


def newest_via_at(client: httpx.Client, now: int) -> int | None:
    t, end = now - 120_000_000, None
    for _ in range(50):
        r = client.get("/api/cameras/1/at", params={"t": t})
        if r.status_code != 200:
            break
        seg_end = int(r.json()["end_utc_us"])
        if end is not None and seg_end <= end:
            break
        end = t = seg_end
    return end


def newest_via_playlist(client: httpx.Client, now: int) -> int | None:
    r = client.get("/api/cameras/1/playback.m3u8",
                   params={"from": now - 600_000_000, "to": now + 60_000_000})
    if r.status_code != 200:
        return None
    pdts = re.findall(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)", r.text)
    durations = re.findall(r"#EXTINF:([\d.]+),", r.text)
    if not pdts:
        return None
    start = datetime.fromisoformat(pdts[-1].replace("Z", "+00:00")).timestamp()
    return round((start + float(durations[-1])) * 1e6)


def newest_indexed(db: Path) -> int | None:
    con = sqlite3.connect(db)
    try:
        value = con.execute("SELECT max(end_utc_us) FROM segment").fetchone()[0]
    finally:
        con.close()
    return int(value) if value is not None else None


def newest_on_disk(folder: Path) -> int | None:
    files = sorted(folder.glob("*.mp4"), key=lambda p: p.stat().st_mtime_ns)
    return files[-1].stat().st_mtime_ns // 1000 if files else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=90.0)
    p.add_argument("--interval-s", type=float, default=1.0)
    p.add_argument("--segment-s", type=int, default=60)
    args = p.parse_args(argv)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC  {command_line()}")
    print(f"# {machine()}; {code_version()}")
    work = Path(tempfile.mkdtemp(prefix="guetteur-live-edge-"))
    sim = SimulatedCameras(work, cameras=1).start()
    server = ServerProcess(work / "var", segment_duration_s=args.segment_s)
    samples: dict[str, list[float]] = {k: [] for k in ("at", "playlist", "index", "disk")}
    misses = dict.fromkeys(samples, 0)
    try:
        for cmd, stdin in ((("camera", "add", "CAM-1", "--url", sim.url(0)), None),
                           (("user", "add", USER, "--role", "operator"), PASSWORD + "\n"),
                           (("grant", "add", USER, "--action", "playback", "--scope", "cameras",
                             "--value", "CAM-1"), None)):
            done = server.cli(*cmd, stdin=stdin)
            if done.returncode != 0:
                raise SystemExit(f"{cmd}: {done.stderr}")
        server.start()
        folder = server.data_dir / "segments" / "cam000001" / "main"
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            http_login(client, USER, PASSWORD)
            wait_until(lambda: client.get("/api/cameras/1/at",
                                          params={"t": now_us() - 5_000_000}).status_code == 200,
                       60, "a first playable instant")
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                now = now_us()
                found = {"at": newest_via_at(client, now),
                         "playlist": newest_via_playlist(client, now),
                         "index": newest_indexed(server.data_dir / "guetteur.db"),
                         "disk": newest_on_disk(folder)}
                for key, end in found.items():
                    if end is None:
                        misses[key] += 1
                    else:
                        samples[key].append((now - end) / 1e6)
                time.sleep(args.interval_s)
    finally:
        server.stop()
        sim.stop()
    labels = {"at": "via /at (open segment served)",
              "playlist": "via playlist (open segment listed)",
              "index": "baseline: finished segments only",
              "disk": "floor: newest byte on disk (live view follows it)"}
    rows = []
    for key, values in samples.items():
        rows.append([labels[key], len(values), misses[key],
                     percentile(values, 50), percentile(values, 95), max(values, default=0.0)])
    print(f"# segments of {args.segment_s} s, one camera 1080p 4 Mbit/s, "
          f"{args.seconds:.0f} s sampled every {args.interval_s:.1f} s; "
          "seconds behind live (now - newest playable instant)")
    print(table(["newest playable instant", "samples", "none found", "p50 s", "p95 s", "max s"],
                rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
