"""How long `guetteur demo` takes to be ready (banner printed, web server answering), from an
empty data folder, with an empty media cache (a fresh machine, after `scripts/setup`) and with
a warm one (a second clone, or `var/` wiped); beside it, in the same run, the preparation the
demo did before this change (a two-minute street at veryfast and veryfast test-pattern clips,
encoded while the simulator started), which took minutes.

    .venv/bin/python bench/demo_ready.py [--cameras 8] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import REPO, code_version, machine, table

from support import free_port


def demo_ready_s(cameras: int, cache: Path, work: Path) -> tuple[float, str]:
    """Seconds from the start of `guetteur demo` to its banner, and the time it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUETTEUR_")}
    env["XDG_CACHE_HOME"] = str(cache)
    port, rtsp = free_port(), free_port()
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "guetteur", "demo", "--cameras", str(cameras), "--data-dir",
         str(work / "var"), "--port", str(port), "--rtsp-port", str(rtsp)],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "est prêt" in line:
                ready.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        if not ready.wait(900):
            raise SystemExit("demo not ready after 900 s:\n" + "".join(lines)[-3000:])
        elapsed = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(10)
    printed = re.search(r"est prêt \(en (\d+) s\)", "".join(lines))
    return elapsed, printed.group(1) + " s" if printed else "?"


def baseline_preparation_s(cameras: int, cache: Path) -> float:
    """The media the demo prepared before (street of 120 s, clips at veryfast), timed alone."""
    from guetteur.adapters.plates.synth import plan_vehicles, render_video
    from guetteur.adapters.simulator import clips

    started = time.monotonic()
    specs = plan_vehicles(120, 10.0, seed=2026, char_height_px=(28.0, 40.0),
                          blur_sigma_px=(0.0, 0.8), contrast=(1.0,))
    cache.mkdir(parents=True, exist_ok=True)
    street = cache / "street-120.h264"
    render_video(street, 120, vehicles=specs, seed=2026, preset="veryfast")
    clips.ensure_source_clips(street, cache, "veryfast")
    for i in range(3, cameras + 1):
        clips.ensure_camera_clips(f"CAM-{i:02d}", cache, preset="veryfast")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    print(machine())
    print(code_version())
    rows = []
    with tempfile.TemporaryDirectory(prefix="guetteur-demo-bench-") as tmp:
        root = Path(tmp)
        cache = root / "cache"
        cold, cold_printed = demo_ready_s(args.cameras, cache, root / "cold")
        rows.append(["guetteur demo, empty cache (fresh machine)", f"{cold:.1f}", cold_printed])
        warm, warm_printed = demo_ready_s(args.cameras, cache, root / "warm")
        rows.append(["guetteur demo, warm cache, new data folder", f"{warm:.1f}", warm_printed])
        if not args.skip_baseline:
            before = baseline_preparation_s(args.cameras, root / "before")
            rows.append(["baseline: previous recipe's media preparation alone "
                         "(street 120 s + clips, veryfast)", f"{before:.1f}", "-"])
    print(table(["run", "ready after (s)", "demo printed"], rows))
    print(f"({args.cameras} cameras; `scripts/setup` done beforehand; repo {REPO})")


if __name__ == "__main__":
    main()
