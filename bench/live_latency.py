"""Live latency: how far behind the camera the single-camera live page shows its picture.

Starts the RTSP simulator (2 cameras, one clip each) and `guetteur serve` (a real process,
`tests/support.ServerProcess`) with an admin and the two cameras registered through the CLI,
waits until both record, then opens `/live/{id}` in headless Chromium after logging in through
`/login`. Every ~250 ms for `--seconds` it draws the `<video>` onto a canvas and reads the
frame index burnt into the picture (`adapters/simulator/frameindex.py`).

At the same wall-clock instants a reference reader -- a separate process decoding the camera's
main stream directly over RTSP with PyAV (TCP, low-delay options, one decoding thread) --
gives the newest frame index received from the simulator. Latency = (reference index - shown
index) / 25 fps, modulo the clip's loop (`--clip-seconds` x 25 frames, so latencies are
unambiguous within +- half a loop).

Baselines in the same run, on the same camera and instants:
- the reference reader against the simulator: the spread of its own arrival times (wall time
  minus frame time, above its minimum), since the simulator's send times are not observable;
- a plain fragmented-MP4 pipeline without a server or a browser: `ffmpeg -c copy -f mp4
  -movflags frag_keyframe+empty_moov+default_base_moof -frag_duration 200000 pipe:1` (the
  recorder's fragmenting) decoded by PyAV as it arrives: the latency that the 200-ms fragments
  alone impose.

    .venv/bin/python bench/live_latency.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import base64
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from pathlib import Path
from typing import Any

from _common import browser_login, code_version, command_line, machine, percentile, table

from guetteur.adapters.media.ffmpeg import FRAGMENT_US, die_with_parent
from guetteur.adapters.simulator.frameindex import decode_frame_index
from support import ServerProcess, SimulatedCameras, wait_until

FPS = 25
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--autoplay-policy=no-user-gesture-required"]
ADMIN, ADMIN_PW = "admin", "bench-admin-password-42"

# Draws the top-left strip of the frame being shown (in the video's own pixels) onto a canvas
# and returns it as base64 RGBA, with the wall-clock time (ms since the epoch) of the draw.
READ_JS = """() => {
  const v = document.getElementById('live-video');
  if (!v || v.readyState < 2 || !v.videoWidth) return null;
  const W = v.videoWidth, H = v.videoHeight, s = W / 80;
  const w = Math.ceil(15 * s), h = Math.ceil(s);
  const c = window.__benchCanvas || (window.__benchCanvas = document.createElement('canvas'));
  if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
  const ctx = c.getContext('2d', {willReadFrequently: true});
  const t = performance.timeOrigin + performance.now();
  ctx.drawImage(v, 0, 0, w, h, 0, 0, w, h);
  const d = ctx.getImageData(0, 0, w, h).data;
  let bin = '';
  for (let i = 0; i < d.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
  }
  const st = window.guetteurLive ? window.guetteurLive.stats() : {};
  return {t, W, H, w, h, b64: btoa(bin), player_latency_s: st.latency_s,
          first_frame_ms: st.first_frame_ms, jumps: st.jumps, inits: st.inits,
          reconnects: st.reconnects, dropped: st.frames_dropped, total: st.frames_total};
}"""


# --------------------------------------------------------------------- reference readers

class _Pipe:
    """A read-only, non-seekable file object over a pipe that returns what is there (read1)
    instead of waiting for a full buffer: PyAV must see each fragment as it arrives."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def read(self, n: int = -1) -> bytes:
        return bytes(self._raw.read1(n if n > 0 else 65536))


def reference(args: argparse.Namespace) -> None:
    """Child process: decode a stream and log `wall_time frame_index` for every frame."""
    import av

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    proc = None
    if args.pipe:
        mov = "+frag_keyframe+empty_moov+default_base_moof"
        proc = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-rtsp_transport",
             "tcp", "-i", args.reference, "-map", "0:v:0", "-c", "copy", "-f", "mp4",
             "-movflags", mov, "-frag_duration", str(FRAGMENT_US), "-flush_packets", "1",
             "pipe:1"], stdout=subprocess.PIPE, preexec_fn=die_with_parent)
        container = av.open(_Pipe(proc.stdout), format="mp4",
                            options={"probesize": "32768", "analyzeduration": "0"})
    else:
        container = av.open(args.reference, options={
            "rtsp_transport": "tcp", "fflags": "nobuffer", "flags": "low_delay",
            "max_delay": "0", "probesize": "32768", "analyzeduration": "0"})
    stream = container.streams.video[0]
    stream.codec_context.thread_count = 1  # frame threads would hold frames back
    stream.codec_context.flags |= av.codec.context.Flags.low_delay
    deadline = time.monotonic() + args.seconds
    with open(args.out, "w", buffering=1) as out:
        try:
            for frame in container.decode(stream):
                wall = time.time()
                plane = frame.planes[0]  # luma (yuv420p): the index squares are grey levels
                mv, ls = memoryview(plane), plane.line_size

                def luma(x: int, y: int, mv: memoryview = mv, ls: int = ls) -> tuple[int, ...]:
                    v = mv[y * ls + x]
                    return (v, v, v)

                idx = decode_frame_index(luma, frame.width, frame.height)
                out.write(f"{wall:.6f} {-1 if idx is None else idx}\n")
                if time.monotonic() > deadline:
                    break
        finally:
            container.close()
            if proc is not None:
                proc.kill()
                proc.wait()


def start_reference(url: str, out: Path, seconds: float, pipe: bool) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--reference", url, "--out", str(out),
           "--seconds", str(seconds)]
    if pipe:
        cmd.append("--pipe")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def load_log(path: Path) -> tuple[list[float], list[int]]:
    walls, idx = [], []
    for line in path.read_text().splitlines():
        w, i = line.split()
        if int(i) >= 0:
            walls.append(float(w))
            idx.append(int(i))
    return walls, idx


def at(walls: list[float], idx: list[int], t: float) -> int | None:
    """Newest frame index decoded at or before wall time t."""
    k = bisect_right(walls, t) - 1
    return idx[k] if k >= 0 else None


def behind_frames(ref: int, shown: int, loop: int) -> int:
    d = (ref - shown) % loop
    return d - loop if d >= loop // 2 else d


def arrival_spread(walls: list[float], idx: list[int], loop: int) -> list[float]:
    """Wall time minus frame time (unwrapped), above its minimum, for each frame: how much
    later than its best a reader got each frame (the simulator paces at exactly 25 fps)."""
    offsets, unwrapped, prev = [], 0, None
    for w, i in zip(walls, idx, strict=True):
        if prev is not None:
            unwrapped += (i - prev) % loop
        prev = i
        offsets.append(w - unwrapped / FPS)
    best = min(offsets)
    return [o - best for o in offsets]


# --------------------------------------------------------------------- the browser side

def read_shown(page: Any) -> tuple[float, int | None, dict[str, Any]] | None:
    before = time.time()
    got = page.evaluate(READ_JS)
    after = time.time()
    if got is None:
        return None
    # the browser's clock against ours: its draw time must fall inside the call
    got["clock_check_ms"] = (got["t"] / 1000 - (before + after) / 2) * 1000
    got["call_ms"] = (after - before) * 1000
    data = base64.b64decode(got["b64"])
    w = got["w"]

    def rgb(x: int, y: int) -> bytes:
        o = (y * w + x) * 4
        return data[o:o + 3]

    return got["t"] / 1000, decode_frame_index(rgb, got["W"], got["H"]), got


def recording_cameras(db: Path) -> int:
    """Main streams the server reports as recording (its status table, read directly: the
    admin's only login, with its second factor, is the browser's)."""
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM stream_status WHERE stream = 'main' "
                               "AND state = 'recording'").fetchone()[0])
    except sqlite3.OperationalError:  # the server has not created it yet
        return 0
    finally:
        con.close()


def camera_ids(db: Path) -> list[int]:
    con = sqlite3.connect(db)
    try:
        return [int(r[0]) for r in con.execute("SELECT id FROM camera ORDER BY id")]
    finally:
        con.close()


def summary(values_s: list[float]) -> list[float]:
    return [percentile(values_s, p) for p in (50, 95, 100)] if values_s else [float("nan")] * 3


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30, help="sampling duration")
    p.add_argument("--interval-s", type=float, default=0.25)
    p.add_argument("--clip-seconds", type=int, default=10, help="loop: +-half is unambiguous")
    p.add_argument("--segment-s", type=int, default=60, help="server's segment length")
    p.add_argument("--reference", help=argparse.SUPPRESS)
    p.add_argument("--pipe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.reference:
        reference(args)
        return 0
    from playwright.sync_api import sync_playwright

    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  {command_line()}")
    print(f"# {machine()}; {code_version()}")
    loop = args.clip_seconds * FPS
    work = Path(tempfile.mkdtemp(prefix="guetteur-bench-live-"))
    sim = SimulatedCameras(work, cameras=2, clip_seconds=args.clip_seconds, shared_clip=False)
    server = ServerProcess(work / "var", segment_duration_s=args.segment_s)
    readers: list[subprocess.Popen[bytes]] = []
    samples: list[tuple[float, int | None, dict[str, Any]]] = []
    ttff_s = None
    first_frame_ms = None
    try:
        sim.start(timeout_s=600)  # the first run encodes the two cameras' clips (cached)
        for i in range(2):
            res = server.cli("camera", "add", f"CAM-0{i + 1}", "--url", sim.url(i),
                             "--sub-url", sim.url(i, "sub"))
            assert res.returncode == 0, res.stderr
        res = server.cli("user", "add", ADMIN, "--role", "admin", stdin=ADMIN_PW + "\n")
        assert res.returncode == 0, res.stderr
        res = server.cli("grant", "add", ADMIN, "--action", "live")  # images need a grant
        assert res.returncode == 0, res.stderr
        server.start()
        db = server.data_dir / "guetteur.db"
        wait_until(lambda: recording_cameras(db) == 2, 60, "both cameras recording")
        cam_id = camera_ids(db)[0]
        run_s = args.seconds + 60
        ref_log, pipe_log = work / "reference.log", work / "pipe.log"
        readers.append(start_reference(sim.url(0), ref_log, run_s, pipe=False))
        readers.append(start_reference(sim.url(0), pipe_log, run_s, pipe=True))
        wait_until(lambda: ref_log.exists() and pipe_log.exists()
                   and ref_log.stat().st_size > 0 and pipe_log.stat().st_size > 0, 30,
                   "the reference readers")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                ctx = browser.new_context(base_url=server.base_url,
                                          viewport={"width": 1280, "height": 800})
                page = ctx.new_page()
                browser_login(page, ADMIN, ADMIN_PW)
                t_nav = time.time()
                page.goto(f"/live/{cam_id}")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    got = read_shown(page)
                    if got is not None and got[1] is not None:
                        ttff_s = got[0] - t_nav
                        break
                    time.sleep(0.02)
                if ttff_s is None:
                    raise RuntimeError("no frame index read on the live page within 30 s")
                end = time.monotonic() + args.seconds
                nxt = time.monotonic()
                while time.monotonic() < end:
                    got = read_shown(page)
                    if got is not None:
                        samples.append(got)
                    nxt += args.interval_s
                    time.sleep(max(0.0, nxt - time.monotonic()))
                first_frame_ms = samples[-1][2].get("first_frame_ms") if samples else None
                last = samples[-1][2] if samples else {}
                ctx.close()
            finally:
                browser.close()
        if not samples:
            raise RuntimeError("no sample read on the live page")
        ref_w, ref_i = load_log(ref_log)
        pipe_w, pipe_i = load_log(pipe_log)
    finally:
        for r in readers:
            if r.poll() is None:
                r.send_signal(signal.SIGTERM)
            try:
                r.wait(10)
            except subprocess.TimeoutExpired:
                r.kill()
                r.wait()
        server.stop()
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    page_lat, pipe_lat, player_est = [], [], []
    unreadable = 0
    for t, shown, got in samples:
        ref = at(ref_w, ref_i, t)
        if shown is None or ref is None:
            unreadable += 1
            continue
        page_lat.append(behind_frames(ref, shown, loop) / FPS)
        if got.get("player_latency_s") is not None:
            player_est.append(float(got["player_latency_s"]))
        piped = at(pipe_w, pipe_i, t)
        if piped is not None:
            pipe_lat.append(behind_frames(ref, piped, loop) / FPS)
    t0, t1 = samples[0][0], samples[-1][0]
    window = [(w, i) for w, i in zip(ref_w, ref_i, strict=True) if t0 - 1 <= w <= t1 + 1]
    spread = arrival_spread([w for w, _ in window], [i for _, i in window], loop)
    rows = [
        ["Guetteur live page (/live/{id}, MSE) vs reference", len(page_lat),
         *summary(page_lat), f"{min(page_lat):.3f}" if page_lat else "n/a"],
        ["baseline: ffmpeg fMP4 pipe (200-ms fragments) + PyAV vs reference", len(pipe_lat),
         *summary(pipe_lat), f"{min(pipe_lat):.3f}" if pipe_lat else "n/a"],
        ["baseline: reference reader vs simulator (arrival spread)", len(spread),
         *summary(spread), "0 (by definition)"],
        ["(player's own estimate: buffered end - currentTime)", len(player_est),
         *summary(player_est), f"{min(player_est):.3f}" if player_est else "n/a"],
    ]
    print()
    print(table(["what", "samples", "p50 s", "p95 s", "max s", "min s"], rows))
    print(f"# time to first frame: {ttff_s:.2f} s from navigation to /live/{cam_id} to a "
          f"readable frame on the canvas; player's first_frame_ms (start -> loadeddata): "
          f"{first_frame_ms}")
    checks = [abs(g["clock_check_ms"]) for _, _, g in samples]
    calls = [g["call_ms"] for _, _, g in samples]
    if checks:
        print(f"# clocks: |browser draw time - midpoint of the Python call| p50 "
              f"{percentile(checks, 50):.1f} ms, max {max(checks):.1f} ms (call p50 "
              f"{percentile(calls, 50):.1f} ms, max {max(calls):.1f} ms)")
    print(f"# samples: {len(samples)} taken, {unreadable} unreadable; player counters at the "
          f"end: jumps={last.get('jumps')} inits={last.get('inits')} "
          f"reconnects={last.get('reconnects')} frames dropped/total="
          f"{last.get('dropped')}/{last.get('total')}")
    print(f"# loop {loop} frames: latencies are read modulo {args.clip_seconds} s "
          f"(unambiguous within +-{args.clip_seconds / 2:.0f} s); the reference index is the "
          f"newest frame decoded at the sample instant (0-40 ms quantisation). Target <= 1 s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
