"""Evidence export speed: Guetteur's signed package against plain ffmpeg concat + stream copy of
the same segment files, in the same run.

Footage: one realistic 60-s segment as the recorder writes them (1080p 25 fps H.264, testsrc2
plus noise so it keeps its 4 Mbit/s, no B-frames, a keyframe every 2 s, fragmented MP4 with
200-ms fragments; FIELD-NOTES.md) is encoded once and cached, then *copied* (not linked) as
consecutive segment files of every camera and indexed through the real schema
(`SegmentStore.finalize` computes each SHA-256: setup, not measured). Scenarios:

- `1cam-1h`: 1 camera x 60 segments (~1.8 GB);
- `10cam-10min`: 10 cameras x 10 segments (~3 GB).

Every segment file is read once before measuring (the page cache is warm for both sides:
dropping caches needs root). Then, `--repeat` times, alternately:

(a) Guetteur: `exports.create` (case, gate, audit: not timed) and `exports.claim`, then
    `exports.run` timed (wall clock and this process's CPU time): PyAV remux of every camera
    straight into a stored zip member, SHA-256 on the fly, `*.frames.csv`, signed manifest,
    fsync of the zip. The package is then checked with the standalone verifier
    (`verifier_preuve.verify`, timed apart, not part of the export time) and deleted;
(b) baseline: `ffmpeg -f concat -safe 0 -i list.txt -map 0:v -c copy camN.mp4`, one camera after
    the other (sequential, as Guetteur runs them), timed wall clock and children CPU
    (`getrusage(RUSAGE_CHILDREN)` deltas); then each output is fsynced, timed apart
    (Guetteur's time includes its own fsync; plain ffmpeg does not sync), and deleted.

`os.sync()` before every timed run, so neither starts with the other's dirty pages to write.
Prints one Markdown table (medians) and every run's figures.

    .venv/bin/python bench/export.py [--scenario 1cam-1h 10cam-10min] [--repeat 3]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import logging
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    bench_case,
    code_version,
    command_line,
    free_disk_gib,
    machine,
    table,
)

from guetteur.adapters.evidence.verifier_preuve import verify
from guetteur.adapters.media.evidence_remux import Part, remux_parts
from guetteur.adapters.media.fmp4 import scan_file
from guetteur.bootstrap import Container, build
from guetteur.domain.cameras import CameraSpec
from guetteur.domain.clock import FakeClock
from guetteur.domain.permissions import Principal
from guetteur.services.evidence import _frames_csv
from guetteur.services.segment_index import SegmentRow
from guetteur.settings import Settings

S = 1_000_000
SEGMENT_S = 60
SCENARIOS = {"1cam-1h": (1, 60), "10cam-10min": (10, 10)}  # cameras, segments per camera
T_END = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z: end of the footage
RUN_STAMP = "20261125T193000000000Z"  # the recorder's run stamp in segment file names
SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"
SUPERVISOR, PASSWORD = "bench-sup", "Bench-Sup3rvisor!pw"
CODEC = "avc1.4d4028"  # H.264 main profile, level 4.0 (what the encode below gives)
DEFAULT_CACHE = REPO / "var" / "bench-cache"


def ffmpeg_bin() -> str:
    return os.environ.get("GUETTEUR_FFMPEG_PATH", "ffmpeg")


# --------------------------------------------------------------------- footage

def make_segment(cache: Path, preset: str) -> tuple[Path, int]:
    """The 60-s 1080p fMP4 segment (encoded once, cached); returns (path, init size)."""
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"export-segment-60s-1080p-{preset}.mp4"
    if not out.exists():
        part = out.with_name(out.name + ".part")
        print(f"# encoding the 60-s 1080p test segment (libx264 {preset}, once) into {out} ...",
              flush=True)
        t0 = time.perf_counter()
        subprocess.run(
            [ffmpeg_bin(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25,noise=alls=12:allf=t",
             "-t", str(SEGMENT_S), "-c:v", "libx264", "-preset", preset, "-profile:v", "main",
             "-bf", "0", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
             "-b:v", "4M", "-maxrate", "4M", "-bufsize", "4M", "-pix_fmt", "yuv420p",
             "-x264-params", "repeat-headers=1", "-f", "mp4",
             "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
             "-frag_duration", "200000", str(part)], check=True)
        part.replace(out)
        print(f"# encoded in {time.perf_counter() - t0:.0f} s", flush=True)
    scan = scan_file(out)
    if scan.init is None or abs(scan.duration_s - SEGMENT_S) > 0.1:
        raise RuntimeError(f"{out}: not a 60-s fragmented MP4 ({scan}); delete it and rerun")
    return out, scan.init.size


@dataclass
class Footage:
    c: Container
    who: Principal
    case_id: int
    cameras: list[int]
    from_us: int
    to_us: int
    files: dict[int, list[Path]]  # camera -> its segment files in order
    bytes_total: int
    setup_s: float


def build_footage(work: Path, segment: Path, init_size: int, cameras: int,
                  per_camera: int) -> Footage:
    t0 = time.perf_counter()
    settings = Settings(_env_file=None, data_dir=work / "data",
                        secret_key=SECRET)
    c = build(settings, clock=FakeClock(T_END + 60 * S))
    try:
        who, kase = bench_case(c, SUPERVISOR, PASSWORD, "supervisor",
                               "Superviseur Banc d'essai", ["playback", "export"],
                               "PV 2026/BENCH-EXPORT", "Banc d'essai de l'extraction")
        from_us = T_END - per_camera * SEGMENT_S * S
        cams: list[int] = []
        files: dict[int, list[Path]] = {}
        total = 0
        for i in range(cameras):
            cid = int(c.registry.add(CameraSpec(name=f"CAM-{i + 1:02d}",
                                                main_url=f"rtsp://192.0.2.10/cam{i + 1}/main",
                                                enabled=False), actor="bench").id)
            cams.append(cid)
            folder = c.store.stream_dir(cid, "main")
            files[cid] = []
            for k in range(per_camera):
                path = folder / f"{RUN_STAMP}_{k:06d}.mp4"
                shutil.copyfile(segment, path)
                key = c.store.key_of(path)
                size, digest = c.store.finalize(key)
                start = from_us + k * SEGMENT_S * S
                c.index.insert([SegmentRow(cid, "main", key, start, start + SEGMENT_S * S, size,
                                           digest, CODEC, init_size)], [])
                files[cid].append(path)
                total += size
        return Footage(c, who, kase.id, cams, from_us, T_END, files, total,
                       time.perf_counter() - t0)
    except BaseException:
        c.close()
        raise


def warm(files: list[Path]) -> tuple[int, float]:
    """Read every file once (into the page cache); (bytes, seconds)."""
    t0 = time.perf_counter()
    n = 0
    buf = bytearray(1 << 20)
    for path in files:
        with path.open("rb", buffering=0) as fh:
            while got := fh.readinto(buf):
                n += got
    return n, time.perf_counter() - t0


# --------------------------------------------------------------------- the two sides

@dataclass
class Run:
    wall_s: float
    cpu_s: float
    out_bytes: int
    frames: int
    verify_s: float = float("nan")  # Guetteur: the standalone verifier
    fsync_s: float = float("nan")  # baseline: fsync of its outputs after ffmpeg exits


def run_guetteur(f: Footage, profile: cProfile.Profile | None = None) -> Run:
    job = f.c.exports.create(f.who, f.case_id, f.cameras, f.from_us, f.to_us)
    if not f.c.exports.claim(job.id):
        raise RuntimeError(f"export {job.id}: not claimable ({job.state})")
    os.sync()
    cpu0, t0 = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    try:
        view = f.c.exports.run(job.id)
    finally:
        if profile is not None:
            profile.disable()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if view.state != "done" or not view.package_name:
        raise RuntimeError(f"export {job.id} ended {view.state}: {view.error}")
    path = f.c.exports.dir / view.package_name
    size = path.stat().st_size
    t0 = time.perf_counter()
    report = verify(path)
    verify_s = time.perf_counter() - t0
    if not report.ok:
        raise RuntimeError(f"{path}: the verifier says it is not valid: {report}")
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
    frames = sum(int(cam["frames"]) for cam in manifest["cameras"])
    path.unlink()
    return Run(wall, cpu, size, frames, verify_s=verify_s)


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def nb_frames(path: Path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_frames", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout.strip()
    return int(out)


def run_ffmpeg(lists: list[Path], out_dir: Path) -> Run:
    outs = [out_dir / f"{lst.stem}.mp4" for lst in lists]
    os.sync()
    cpu0, t0 = children_cpu_s(), time.perf_counter()
    for lst, out in zip(lists, outs, strict=True):
        subprocess.run([ffmpeg_bin(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                        "-f", "concat", "-safe", "0", "-i", str(lst), "-map", "0:v", "-c", "copy",
                        str(out)], check=True)
    wall, cpu = time.perf_counter() - t0, children_cpu_s() - cpu0
    t0 = time.perf_counter()
    for out in outs:
        fd = os.open(out, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fsync_s = time.perf_counter() - t0
    size = sum(out.stat().st_size for out in outs)
    frames = sum(nb_frames(out) for out in outs)
    for out in outs:
        out.unlink()
    return Run(wall, cpu, size, frames, fsync_s=fsync_s)


# --------------------------------------------------------------------- where the time goes

class _Sink(io.RawIOBase):
    """A non-seekable writer that drops what it is given (as a zip member, without the zip)."""

    def __init__(self, digest: bool) -> None:
        super().__init__()
        self.size = 0
        self._digest = hashlib.sha256() if digest else None

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        if self._digest is not None:
            self._digest.update(view)
        self.size += view.nbytes
        return view.nbytes


def breakdown(f: Footage, package_bytes: int) -> list[list[object]]:
    """The export's parts timed alone, without a profiler, on the same (warm) files."""
    rows: list[list[object]] = []
    results = []
    for digest in (False, True):
        t0, cpu0 = time.perf_counter(), time.process_time()
        size = 0
        for cid in f.cameras:
            parts = [Part(p, f.from_us + k * SEGMENT_S * S, p.stat().st_size)
                     for k, p in enumerate(f.files[cid])]
            sink = _Sink(digest)
            results.append(remux_parts(parts, f.from_us, f.to_us, sink))
            size += sink.size
        what = ("PyAV remux (remux_parts) into a null sink" if not digest
                else "PyAV remux into a sink that SHA-256s")
        rows.append([what, time.perf_counter() - t0, time.process_time() - cpu0,
                     f"{size / 1e6:.0f} MB out"])
    t0, cpu0 = time.perf_counter(), time.process_time()
    csv_bytes = sum(len(_frames_csv(r.frame_times, r.time_base)) for r in results[:len(f.cameras)])
    rows.append(["_frames_csv (every camera)", time.perf_counter() - t0,
                 time.process_time() - cpu0, f"{csv_bytes / 1e6:.1f} MB"])
    block = os.urandom(1 << 20)
    n_blocks = max(1, package_bytes >> 20)
    t0, cpu0 = time.perf_counter(), time.process_time()
    h = hashlib.sha256()
    for _ in range(n_blocks):
        h.update(block)
    rows.append([f"hashlib.sha256 of {n_blocks} MiB in memory", time.perf_counter() - t0,
                 time.process_time() - cpu0, ""])
    scratch = f.c.exports.dir / "bench-zip-scratch.zip"
    t0, cpu0 = time.perf_counter(), time.process_time()
    with zipfile.ZipFile(scratch, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z, \
            z.open("x.bin", "w", force_zip64=True) as member:
        for _ in range(n_blocks):
            member.write(block)
    zip_s, zip_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    t0 = time.perf_counter()
    fd = os.open(scratch, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_s = time.perf_counter() - t0
    scratch.unlink()
    rows.append([f"zipfile stored member write of {n_blocks} MiB (CRC-32 + write)", zip_s,
                 zip_cpu, ""])
    rows.append(["fsync of that zip", fsync_s, float("nan"), ""])
    return rows


def profile_once(f: Footage, top: int) -> str:
    prof = cProfile.Profile()
    run = run_guetteur(f, prof)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (f"# cProfile of one more export (wall {run.wall_s:.2f} s under the profiler), "
            f"top {top} by own time:\n" + "\n".join("#   " + ln for ln in lines[-(top + 1):]))


# --------------------------------------------------------------------- one scenario

@dataclass
class Outcome:
    name: str
    footage: str
    bytes_in: int
    guetteur: list[Run] = field(default_factory=list)
    ffmpeg: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_scenario(name: str, args: argparse.Namespace, segment: Path, init_size: int,
                 parent: Path) -> Outcome | None:
    cameras, per_camera = SCENARIOS[name]
    need = 3 * cameras * per_camera * segment.stat().st_size * 1.05 + 2**30
    free = free_disk_gib(parent) * 2**30
    if free < need:
        print(f"# {name}: REFUSED, {free / 2**30:.1f} GiB free in {parent}, needs "
              f"{need / 2**30:.1f} GiB (segments + Guetteur package + ffmpeg outputs)",
              flush=True)
        return None
    work = Path(tempfile.mkdtemp(prefix=f"guetteur-bench-export-{name}-", dir=parent))
    f = None
    try:
        print(f"[{time.strftime('%H:%M:%S')}] {name}: copying and indexing "
              f"{cameras * per_camera} segments into {work} ...", flush=True)
        f = build_footage(work, segment, init_size, cameras, per_camera)
        out = Outcome(name, f"{cameras} cam x {per_camera} min "
                            f"({f.bytes_total / 1e9:.2f} GB)", f.bytes_total)
        out.notes.append(f"setup (copies + finalize SHA-256 + index): {f.setup_s:.0f} s")
        lists = []
        (work / "ffmpeg").mkdir()
        for cid in f.cameras:
            lst = work / "ffmpeg" / f"cam{cid:04d}.txt"
            lst.write_text("".join(f"file '{p}'\n" for p in f.files[cid]))
            lists.append(lst)
        n, secs = warm([p for cid in f.cameras for p in f.files[cid]])
        out.notes.append(f"warm-up read: {n / 1e9:.2f} GB in {secs:.1f} s")
        for i in range(args.repeat):
            print(f"[{time.strftime('%H:%M:%S')}] {name}: run {i + 1}/{args.repeat} guetteur",
                  flush=True)
            out.guetteur.append(run_guetteur(f))
            print(f"[{time.strftime('%H:%M:%S')}] {name}: run {i + 1}/{args.repeat} ffmpeg",
                  flush=True)
            out.ffmpeg.append(run_ffmpeg(lists, work / "ffmpeg"))
        if args.profile:
            print(f"[{time.strftime('%H:%M:%S')}] {name}: profiling", flush=True)
            out.notes.append(profile_once(f, args.profile_top))
            rows = breakdown(f, out.guetteur[0].out_bytes)
            out.notes.append("parts timed alone (same files, no profiler):\n" + "\n".join(
                "#   " + ln for ln in table(["part", "wall s", "CPU s", ""], rows).splitlines()))
        return out
    finally:
        if f is not None:
            f.c.close()
        if args.keep:
            print(f"# {name}: data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    p.add_argument("--repeat", type=int, default=3,
                   help="alternated runs of each side (median reported)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="parent folder of the scenario's data (default: the system tmp)")
    p.add_argument("--keep", action="store_true", help="keep the footage and database")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                   help="where the encoded 60-s segment is kept between runs")
    p.add_argument("--preset", default="veryfast", choices=["veryfast", "ultrafast"],
                   help="x264 preset of the test segment (ultrafast if encoding is too slow)")
    p.add_argument("--profile", action="store_true",
                   help="after the runs: one more export under cProfile, and its parts timed")
    p.add_argument("--profile-top", type=int, default=25)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parent = (args.workdir or Path(tempfile.gettempdir())).resolve()
    parent.mkdir(parents=True, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  {command_line()}")
    print(f"# {machine()}; {code_version()}")
    segment, init_size = make_segment(args.cache_dir, args.preset)
    print(f"# segment: {segment.name}, {segment.stat().st_size} bytes, 60 s 1080p25 H.264 "
          f"(libx264 {args.preset}, 4 Mbit/s, -bf 0 -g 50), fMP4 200-ms fragments, "
          f"init {init_size} bytes; copied once per segment file")
    outcomes = [o for name in args.scenario
                if (o := run_scenario(name, args, segment, init_size, parent)) is not None]
    rows = []
    for o in outcomes:
        g, b = o.guetteur, o.ffmpeg
        g_s, b_s = med([r.wall_s for r in g]), med([r.wall_s for r in b])
        b_sync = med([r.wall_s + r.fsync_s for r in b])
        rows.append([
            o.name, o.footage, g_s, b_s, f"{b_s / g_s:.2f}", b_sync, f"{b_sync / g_s:.2f}",
            f"{o.bytes_in / 1e6 / g_s:.0f} / {o.bytes_in / 1e6 / b_s:.0f}",
            f"{med([r.cpu_s for r in g]):.2f} / {med([r.cpu_s for r in b]):.2f}",
            f"{g[0].out_bytes / 1e6:.0f} / {b[0].out_bytes / 1e6:.0f}",
            f"{g[0].frames} / {b[0].frames}", med([r.verify_s for r in g])])
    print()
    print(table(["scenario", "footage", "guetteur s (median)", "ffmpeg s (median)",
                 "speed ratio (ffmpeg / guetteur)", "ffmpeg + fsync s", "ratio with fsync",
                 "MB/s in (guetteur / ffmpeg)", "CPU s (guetteur / ffmpeg)",
                 "package MB / ffmpeg MB", "frames (guetteur / ffmpeg)", "verify s"], rows))
    for o in outcomes:
        print(f"# {o.name}: guetteur runs (wall s / CPU s): "
              + ", ".join(f"{r.wall_s:.2f}/{r.cpu_s:.2f}" for r in o.guetteur)
              + "; ffmpeg runs (wall s / CPU s / fsync s): "
              + ", ".join(f"{r.wall_s:.2f}/{r.cpu_s:.2f}/{r.fsync_s:.2f}" for r in o.ffmpeg)
              + "; verify s: " + ", ".join(f"{r.verify_s:.2f}" for r in o.guetteur))
        for note in o.notes:
            print(f"# {o.name}: {note}")
    print("# guetteur s: EvidenceExports.run of a claimed job (remux of every camera into one "
          "stored zip, SHA-256 on the fly, frames.csv, signed manifest, fsync of the zip); "
          "ffmpeg s: `ffmpeg -f concat -safe 0 -i list.txt -map 0:v -c copy camN.mp4` per "
          "camera, sequentially, same files, no fsync (the fsync of its outputs is timed "
          "after it exits: 'ffmpeg + fsync'). Speed ratio = ffmpeg s / guetteur s; target "
          ">= 0.9. MB/s: input segment bytes / median wall s. CPU: Guetteur's process CPU; "
          "ffmpeg: children CPU. verify s: verifier_preuve.verify of the package (not in the "
          "export time). Page cache warm for both (files read once before), runs alternated, "
          "os.sync() before each.")
    return 0 if outcomes else 2


if __name__ == "__main__":
    sys.exit(main())
