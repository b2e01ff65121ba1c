"""Recording cost: Guetteur's recorder against N plain ffmpeg processes, in the same run.

For each N: start the RTSP simulator with N cameras sharing one clip (one encode), then

(a) Guetteur: `bootstrap.build` + N cameras (main stream only) + `Container.start(purge=False)`;
    once every stream is recording, measure over `--seconds` the CPU time (user + system) of
    this Python process and of all its ffmpeg children (children that end during the window
    included) and the memory (PSS of the ffmpeg children + USS of this process); then stop
    cleanly and count segments: expected from the wall-clock time recorded, written (files on
    disk), indexed (rows), gap rows and holes between consecutive rows, `guetteur check`;
(b) the baseline: N processes of `adapters.media.ffmpeg.baseline_command` (FIELD-NOTES.md)
    writing to a temporary folder, same window, same measures, files produced.

The simulator's own CPU is measured over each window and reported apart (never counted in the
per-stream figures). Footage is deleted after each variant. Prints one Markdown table.

    .venv/bin/python bench/recording_cost.py --cameras 10 50 100 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from _common import TreeMeter, code_version, command_line, cpu_s, free_disk_gib, machine, table

from guetteur.adapters.media.ffmpeg import baseline_command, die_with_parent
from guetteur.adapters.media.fmp4 import scan_file
from guetteur.bootstrap import build
from guetteur.domain.cameras import CameraSpec
from guetteur.services.check import check
from guetteur.settings import Settings
from support import SimulatedCameras

MAIN_BYTES_PER_S = 4_000_000 / 8  # the simulator's main clip: ~4 Mbit/s
HOLE_US = 1_500_000  # a join wider than this is a hole (domain.segments.JOIN_TOLERANCE_US)


@dataclass
class Result:
    cameras: int
    variant: str
    window_s: float = 0.0
    cpu_s: float = 0.0
    python_cpu_s: float | None = None  # Guetteur: the part of cpu_s used by the Python process
    pss_bytes: int = 0
    uss_bytes: int = 0
    sim_cpu_s: float = 0.0
    expected: int = 0
    ambiguous: int = 0  # cameras stopped within a keyframe of a cut (expected +-1)
    written: int = 0
    indexed: int | None = None
    holes: int | None = None
    uneven_joins: int | None = None  # consecutive rows that do not touch exactly (re-anchor)
    join_range_ms: tuple[float, float] | None = None  # (most overlap, widest gap)
    gap_rows: int | None = None
    check_clean: bool | None = None
    coverage: float = 0.0  # media seconds on disk / wall seconds from launch to stop
    min_cam_coverage: float = 0.0
    startup_s: float = 0.0  # from launching the recorders to every first file created
    restarts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def cpu_pct_per_stream(self) -> float:
        return 100.0 * self.cpu_s / self.window_s / self.cameras

    @property
    def mib_per_stream(self) -> float:
        return (self.pss_bytes + self.uss_bytes) / 2**20 / self.cameras

    @property
    def lost(self) -> int:
        done = self.indexed if self.indexed is not None else self.written
        return max(0, self.expected - self.ambiguous - done)


def expected_segments(start_s: float, stop_s: float, segment_s: int) -> tuple[int, bool]:
    """Segments a camera recorded from `start_s` to `stop_s` (wall clock) must give: ffmpeg
    cuts at the first keyframe (every 2 s) after each multiple of `segment_s`. Ambiguous
    (True: one fewer is fine) when the stop fell within a keyframe interval after a cut."""
    span = stop_s - start_s
    return 1 + int(span // segment_s), span % segment_s < 2.2


async def _stop_mid_segment(first_starts: list[float], segment_s: int, min_stop: float) -> None:
    """Sleep until the median camera is half-way into a segment, so 'expected' is exact."""
    ref = statistics.median(first_starts)
    now = time.time()
    target = max(now, min_stop)
    target += (ref + segment_s / 2 - target) % segment_s
    await asyncio.sleep(max(0.0, target - time.time()))


async def watch_first_files(folders: list[Path], timeout_s: float) -> dict[int, float]:
    """Wall time at which each folder's first .mp4 appears (ffmpeg creates it once the camera
    answered and the first packet is in: the same moment for both variants), polled every
    50 ms."""
    seen: dict[int, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(seen) < len(folders):
        for i, folder in enumerate(folders):
            if i not in seen and folder.is_dir() and any(folder.glob("*.mp4")):
                seen[i] = time.time()
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(seen)}/{len(folders)} streams started")
        await asyncio.sleep(0.05)
    return seen


def media_seconds(paths: list[Path]) -> float:
    return sum(scan_file(p).duration_s for p in paths)


async def run_guetteur(n: int, sim: SimulatedCameras, sim_proc: psutil.Process, work: Path,
                       seconds: float, segment_s: int, settle_s: float) -> Result:
    res = Result(n, "guetteur")
    settings = Settings(_env_file=None, data_dir=work / "var",  # type: ignore[call-arg]
                        secret_key="bench-secret-key-0123456789-abcdefghijklmnop",
                        segment_duration_s=segment_s)
    c = build(settings)
    cams = [int(c.registry.add(CameraSpec(name=f"CAM-{i + 1:03d}", main_url=sim.url(i))).id)
            for i in range(n)]
    me = psutil.Process()
    meter = TreeMeter(me, "ffmpeg", count_parent=True, exclude={sim_proc.pid})
    started = time.time()
    await c.start(purge=False)
    stopped = started
    try:
        assert c.supervisor is not None
        folders = [c.store.root / f"cam{cam:06d}" / "main" for cam in cams]
        first_seen = await watch_first_files(folders, 60 + n)
        res.startup_s = max(first_seen.values()) - started
        deadline = time.monotonic() + 60 + n
        while True:
            recs = c.supervisor.recorders()
            if len(recs) == n and all(r.state.state == "recording" for r in recs):
                break
            if time.monotonic() > deadline:
                states = [r.state.state for r in recs]
                raise RuntimeError(f"not all recording after {60 + n} s: {states}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(settle_s)
        a, sim_a = meter.snapshot(), cpu_s(sim_proc)
        await asyncio.sleep(seconds)
        b, sim_b = meter.snapshot(), cpu_s(sim_proc)
        res.window_s = b.at - a.at
        res.cpu_s, started_kids, ended = TreeMeter.delta(a, b, count_parent=True)
        res.python_cpu_s = b.parent_s - a.parent_s
        res.restarts = started_kids + ended
        res.sim_cpu_s = sim_b - sim_a
        res.pss_bytes, res.uss_bytes = meter.memory_bytes()
        not_recording = [r.name for r in c.supervisor.recorders()
                         if r.state.state != "recording"]
        if not_recording:
            res.notes.append(f"not recording at the end of the window: {not_recording}")
        await _stop_mid_segment(list(first_seen.values()), segment_s, time.time())
    finally:
        stopped = time.time()
        await c.stop()
    try:
        written = list(c.store.iter_keys())
        res.written = len(written)
        stats = c.index.stats()
        res.indexed = sum(s.segments for (cam, stream), s in stats.items() if stream == "main")
        res.holes, res.gap_rows, res.uneven_joins = 0, 0, 0
        joins = [0]
        per_cam_cov = []
        for i, cam in enumerate(cams):
            rows = c.index.covering(cam, "main", 0, 2**62)
            res.gap_rows += len(c.index.gaps(cam, "main"))
            for prev, nxt in itertools.pairwise(rows):
                join = nxt.start_utc_us - prev.end_utc_us  # < 0: overlap, > 0: hole
                joins.append(join)
                res.holes += join > HOLE_US
                res.uneven_joins += abs(join) > 1000
            # the recorder's wall-clock start of the camera's first segment (first packet)
            media_start = rows[0].start_utc_us / 1e6 if rows else first_seen[i]
            exp, amb = expected_segments(media_start, stopped, segment_s)
            res.expected += exp
            res.ambiguous += amb
            paths = [c.store.path_of(r.storage_key) for r in rows]
            per_cam_cov.append(media_seconds(paths) / (stopped - started))
        res.join_range_ms = (min(joins) / 1000, max(joins) / 1000)
        res.coverage = sum(per_cam_cov) / n
        res.min_cam_coverage = min(per_cam_cov)
        report = check(c.sessions, c.store, hashes=True)
        res.check_clean = report.clean and not report.being_written
        if not res.check_clean:
            res.notes.append(f"check: missing={report.missing_files[:3]} "
                             f"orphans={report.orphan_files[:3]} "
                             f"being_written={report.being_written[:3]} "
                             f"size={report.size_mismatch[:3]} hash={report.hash_mismatch[:3]}")
    finally:
        c.close()
    return res


async def run_baseline(n: int, sim: SimulatedCameras, sim_proc: psutil.Process, work: Path,
                       seconds: float, segment_s: int, settle_s: float) -> Result:
    res = Result(n, "plain ffmpeg")
    me = psutil.Process()
    meter = TreeMeter(me, "ffmpeg", count_parent=False, exclude={sim_proc.pid})
    root = work / "baseline"
    errlog = (work / "baseline-stderr.log").open("wb")
    procs: list[subprocess.Popen[bytes]] = []
    folders = []
    started = time.time()
    stopped = started
    try:
        for i in range(n):
            folder = root / f"cam{i + 1:03d}"
            folder.mkdir(parents=True)
            folders.append(folder)
            cmd = baseline_command("ffmpeg", sim.url(i), folder / "%06d.mp4", segment_s)
            procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=errlog,
                                          preexec_fn=die_with_parent))
        first_seen = await watch_first_files(folders, 60 + n)
        res.startup_s = max(first_seen.values()) - started
        deadline = time.monotonic() + 30
        while not all((f / "000000.mp4").stat().st_size > 4096 for f in folders):
            if time.monotonic() > deadline:
                raise RuntimeError("plain ffmpeg: not every stream is writing")
            await asyncio.sleep(0.1)
        await asyncio.sleep(settle_s)
        a, sim_a = meter.snapshot(), cpu_s(sim_proc)
        await asyncio.sleep(seconds)
        b, sim_b = meter.snapshot(), cpu_s(sim_proc)
        res.window_s = b.at - a.at
        res.cpu_s, started_kids, ended = TreeMeter.delta(a, b, count_parent=False)
        res.restarts = started_kids + ended
        res.sim_cpu_s = sim_b - sim_a
        res.pss_bytes, _ = meter.memory_bytes()
        dead = [i for i, p in enumerate(procs) if p.poll() is not None]
        if dead:
            res.notes.append(f"{len(dead)} plain ffmpeg ended during the run (not restarted)")
        await _stop_mid_segment(list(first_seen.values()), segment_s, time.time())
    finally:
        stopped = time.time()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        errlog.close()
    per_cam_cov = []
    for folder in folders:
        files = sorted(folder.glob("*.mp4"))
        res.written += len(files)
        media_s = media_seconds(files)
        # no wall clock of the first packet here: assume the media ran up to the stop
        exp, amb = expected_segments(stopped - media_s, stopped, segment_s)
        res.expected += exp
        res.ambiguous += amb
        per_cam_cov.append(media_s / (stopped - started))
    res.coverage = sum(per_cam_cov) / n
    res.min_cam_coverage = min(per_cam_cov)
    return res


def run_n(n: int, args: argparse.Namespace) -> list[Result]:
    work = Path(tempfile.mkdtemp(prefix=f"guetteur-bench-rec{n}-", dir=args.work_dir))
    results: list[Result] = []
    sim = SimulatedCameras(work, cameras=n, clip_seconds=args.clip_seconds, shared_clip=True)
    try:
        sim.start()
        assert sim.proc is not None
        sim_proc = psutil.Process(sim.proc.pid)
        for variant in args.variants:
            fn = run_guetteur if variant == "guetteur" else run_baseline
            vwork = work / variant
            vwork.mkdir()
            try:
                print(f"[{time.strftime('%H:%M:%S')}] N={n} {variant}: recording ...",
                      file=sys.stderr, flush=True)
                results.append(asyncio.run(fn(n, sim, sim_proc, vwork, args.seconds,
                                              args.segment_s, args.settle_s)))
            finally:
                shutil.rmtree(vwork, ignore_errors=True)  # the footage: GBs at N=100
    finally:
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cameras", type=int, nargs="+", default=[10, 50, 100])
    p.add_argument("--seconds", type=float, default=60, help="measurement window")
    p.add_argument("--segment-s", type=int, default=10,
                   help="segment length for both variants (default 10: six cuts a minute)")
    p.add_argument("--settle-s", type=float, default=5,
                   help="wait after every stream records, before the window")
    p.add_argument("--clip-seconds", type=int, default=4, help="simulator clip loop length")
    p.add_argument("--variants", nargs="+", default=["guetteur", "baseline"],
                   choices=["guetteur", "baseline"])
    p.add_argument("--work-dir", type=Path, default=None, help="where footage goes (tmp)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  {command_line()}")
    print(f"# {machine()}; {code_version()}")
    all_results: list[Result] = []
    for n in args.cameras:
        need_gib = n * MAIN_BYTES_PER_S * (args.seconds + 60) / 2**30
        free = free_disk_gib(args.work_dir or Path(tempfile.gettempdir()))
        if free < need_gib * 1.5 + 5:
            print(f"# N={n}: skipped, {free:.1f} GiB free for ~{need_gib:.1f} GiB of footage")
            continue
        all_results += run_n(n, args)
    rows = []
    for r in all_results:
        rows.append([
            r.cameras, r.variant, r.cpu_pct_per_stream,
            "-" if r.python_cpu_s is None else 100.0 * r.python_cpu_s / r.window_s,
            r.mib_per_stream,
            f"{r.expected}{f' (-{r.ambiguous} ok)' if r.ambiguous else ''}", r.written,
            "-" if r.indexed is None else r.indexed, r.lost,
            "-" if r.holes is None or r.join_range_ms is None else
            f"{r.holes} / {r.gap_rows} / {r.uneven_joins} ({r.join_range_ms[0]:.0f} .."
            f" {r.join_range_ms[1]:.0f})",
            "-" if r.check_clean is None else ("clean" if r.check_clean else "NOT clean"),
            f"{100 * r.coverage:.2f} / {100 * r.min_cam_coverage:.2f}", r.startup_s,
            r.restarts,
            100.0 * r.sim_cpu_s / r.window_s, round(r.window_s, 1)])
    print()
    print(table(["N", "variant", "CPU %/stream", "of which Python % (all streams)",
                 "MiB/stream", "segments expected", "written", "indexed", "lost",
                 "holes / gap rows / uneven joins (ms range)", "check",
                 "media coverage % (mean / min cam)", "startup s", "ffmpeg restarts",
                 "simulator CPU % (excluded)", "window s"], rows))
    for r in all_results:
        for note in r.notes:
            print(f"# N={r.cameras} {r.variant}: {note}")
    print("# CPU %/stream: user+system CPU of the recorder (Guetteur: its Python process + its"
          " ffmpeg children; baseline: the ffmpeg processes) over the window / window / N,"
          " in % of one core. MiB/stream: (PSS of the ffmpeg processes + USS of the Guetteur"
          " process) / N. Media coverage: media seconds in the files / wall seconds from"
          " launching the recorders to the stop (so it includes the startup). Startup: from"
          " launching the recorders to the last camera's first file. Segments expected:"
          " 1 + (wall seconds from the camera's first packet to the stop) // segment length,"
          " the first packet's wall time being the recorder's start of its first segment"
          " (Guetteur) or the stop minus the media recorded (baseline: an estimate that"
          " assumes no hole); '-k ok': k cameras stopped within a GOP after a cut, one fewer"
          " is fine there. Holes: joins > 1.5 s between consecutive indexed segments;"
          " uneven joins: consecutive segments whose wall-clock times do not touch exactly"
          " (the recorder re-anchored its clock; negative ms = overlap).")
    return 1 if any(r.lost or r.notes for r in all_results) else 0


if __name__ == "__main__":
    sys.exit(main())
