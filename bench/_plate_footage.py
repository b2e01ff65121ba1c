"""Synthetic recorded footage for the plate benchmarks: a few distinct 60-s 1080p segments of
street with French plates (`adapters/plates/synth.py`), encoded once with libx264 and cut as
the recorder writes its segments, cached under var/bench-cache/ with their ground truth.

Vehicles: one per 20-s slot, plates, styles, character heights (25-40 px when nearest), tilt,
blur and contrast from `plan_vehicles(60, 20, seed)`; the motions alternate (lateral /
approach), starting with the other one on every other seed; the entry time inside each slot
is drawn at random (seeded), so vehicles cross the keyframes (one every 2 s) at every phase,
as real traffic does, instead of always 1 s after a slot's start.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guetteur.adapters.media.fmp4 import scan_file
from guetteur.adapters.plates.street import MOTIONS, VehicleSpec, placements
from guetteur.adapters.plates.synth import FPS, plan_vehicles, render_video

SEGMENT_S = 60
SIZE = (1920, 1080)
BITRATE_KBPS = 4000
SUB_SIZE = (640, 360)  # the camera's sub-stream (what the live wall shows)
SUB_BITRATE_KBPS = 512
WANTED = "FX-408-WB"
WANTED_SEED = 100
FORMAT_VERSION = 1  # bump when the footage recipe changes (invalidates the cache)


@dataclass(frozen=True)
class Vehicle:
    text: str
    compact: str
    motion: str
    char_height_px: float
    blur_sigma_px: float
    contrast: float
    first_s: float  # plate wholly visible from ... to ... (seconds from the segment start)
    last_s: float


@dataclass(frozen=True)
class Segment:
    name: str
    path: Path
    init_size: int
    vehicles: list[Vehicle]
    sub_path: Path | None = None  # the same minute as the camera's sub-stream
    sub_init_size: int = 0


def ffmpeg_bin() -> str:
    return os.environ.get("GUETTEUR_FFMPEG_PATH", "ffmpeg")


def vehicles_for(seed: int, wanted: bool = False) -> list[VehicleSpec]:
    motions = MOTIONS if seed % 2 else tuple(reversed(MOTIONS))
    specs = plan_vehicles(SEGMENT_S, 20.0, seed, size=SIZE, motions=motions)
    rng = np.random.default_rng([seed, 77])
    out = []
    for i, spec in enumerate(specs):
        while True:  # an entry time in the slot such that the passage ends inside the segment
            enter = round(20.0 * i + float(rng.uniform(0.2, 17.0)), 2)
            moved = dataclasses.replace(spec, enter_s=enter)
            if placements(moved, SIZE, FPS)[-1].frame < SEGMENT_S * FPS:
                break
        if wanted and i == 1:  # the wanted car: a mid-range case, fixed here
            moved = dataclasses.replace(moved, text=WANTED, fmt="SIV", style="siv",
                                        motion="lateral", char_height_px=30.0,
                                        blur_sigma_px=0.8, contrast=1.0)
        out.append(moved)
    return out


def _sub(main: Path, out: Path, preset: str) -> None:
    """The segment as the camera's sub-stream: the same pictures at 640x360, 512 kbit/s,
    libx264, no B-frames, a keyframe every 50 frames at the same instants as the main stream's
    (the conservative case: a sub-stream keyframe then shows nothing the main one does not)."""
    raw = out.parent / f".{out.stem}.raw.mp4"
    subprocess.run([ffmpeg_bin(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                    "-i", str(main), "-vf", f"scale={SUB_SIZE[0]}:{SUB_SIZE[1]}",
                    "-c:v", "libx264", "-preset", preset, "-profile:v", "main", "-bf", "0",
                    "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
                    "-b:v", f"{SUB_BITRATE_KBPS}k", "-maxrate", f"{SUB_BITRATE_KBPS}k",
                    "-bufsize", f"{SUB_BITRATE_KBPS}k", "-pix_fmt", "yuv420p",
                    "-x264-params", "repeat-headers=1", str(raw)], check=True, timeout=600)
    _cut(raw, out)
    raw.unlink()


def _cut(src: Path, out: Path) -> None:
    """Cut as the recorder writes segments: stream copy into fragmented MP4, 200-ms fragments."""
    tmp = out.parent / f".cut-{out.stem}"
    tmp.mkdir(exist_ok=True)
    for old in tmp.glob("*.mp4"):
        old.unlink()
    subprocess.run([ffmpeg_bin(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                    "-i", str(src), "-map", "0:v", "-c", "copy", "-f", "segment",
                    "-segment_time", str(SEGMENT_S), "-segment_format", "mp4",
                    "-segment_format_options",
                    "movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration=200000",
                    "-reset_timestamps", "1", str(tmp / "seg%03d.mp4")], check=True, timeout=300)
    parts = sorted(tmp.glob("seg*.mp4"))
    if len(parts) != 1:
        raise RuntimeError(f"cutting {src} gave {len(parts)} segments, not 1")
    parts[0].replace(out)
    tmp.rmdir()


def segment(cache: Path, seed: int, preset: str, wanted: bool = False) -> Segment:
    """One cached 60-s segment (rendered and cut on first use) and its ground truth."""
    cache.mkdir(parents=True, exist_ok=True)
    name = f"plates-v{FORMAT_VERSION}-seed{seed}{'-wanted' if wanted else ''}-{preset}"
    out, meta = cache / f"{name}.mp4", cache / f"{name}.json"
    if not (out.exists() and meta.exists()):
        raw = cache / f".{name}.raw.mp4"
        print(f"# rendering {out.name} (60 s 1080p25, libx264 {preset}, once) ...", flush=True)
        t0, cpu0 = time.perf_counter(), _cpu()
        truths = render_video(raw, SEGMENT_S, size=SIZE, vehicles=vehicles_for(seed, wanted),
                              seed=seed, bitrate_kbps=BITRATE_KBPS, preset=preset)
        _cut(raw, out)
        raw.unlink()
        vehicles = [Vehicle(t.text, t.compact, t.motion, t.char_height_px, t.blur_sigma_px,
                            t.contrast, t.first_frame / FPS, t.last_frame / FPS)
                    for t in truths]
        meta.write_text(json.dumps([dataclasses.asdict(v) for v in vehicles], indent=1))
        print(f"# rendered in {time.perf_counter() - t0:.0f} s ({_cpu() - cpu0:.0f} s CPU)",
              flush=True)
    scan = scan_file(out)
    if scan.init is None or abs(scan.duration_s - SEGMENT_S) > 0.1:
        raise RuntimeError(f"{out}: not a 60-s fragmented MP4 ({scan}); delete it and rerun")
    vehicles = [Vehicle(**v) for v in json.loads(meta.read_text())]
    sub = cache / f"{name}.sub.mp4"
    if not sub.exists():
        print(f"# deriving {sub.name} (640x360 sub-stream, once) ...", flush=True)
        _sub(out, sub, preset)
    sub_scan = scan_file(sub)
    if sub_scan.init is None or abs(sub_scan.duration_s - SEGMENT_S) > 0.1:
        raise RuntimeError(f"{sub}: not a 60-s fragmented MP4 ({sub_scan}); delete it")
    return Segment(name, out, scan.init.size, vehicles, sub, sub_scan.init.size)


def _cpu() -> float:
    import resource

    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime
