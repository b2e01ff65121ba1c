"""Synthetic street videos carrying French plates, with their ground truth (issue 5).

Responsibility: plan the vehicles of a video (``plan_vehicles``), draw its frames
(``street.Street``), encode them with real libx264 through PyAV (``render_video``) and return
what a perfect reader would find (``GroundTruth``). ``render_plate_image`` (from
``platedraw``) gives one vehicle crop for the accuracy benchmark. Command line:
``python -m guetteur.adapters.plates.synth --out DIR --seconds 120 --every 20``.

Invariants:
- deterministic: the same arguments and seed give the same ground truth and the same frames
  (on one machine: the font may differ between machines, ``platedraw.font_name()``); the
  encoded bytes are identical too with ``encoder_threads=1`` (x264 with several threads is
  not bit-exact from run to run);
- the video is what the simulated cameras loop (``simulator/clips.py``): H.264 main profile, no
  B-frames, a keyframe every 50 frames and nowhere else, SPS/PPS repeated before every keyframe,
  an access unit delimiter before every frame, a whole number of GOPs. ``.h264``/``.264`` files
  are raw Annex-B; any other suffix gives an MP4. The file appears complete or not at all
  (written under a temporary name, then renamed);
- ``plan_vehicles`` keeps only vehicles whose whole passage fits in the video, so none
  straddles the loop of the simulator.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from guetteur.adapters.plates import platedraw
from guetteur.adapters.plates.platedraw import FNI, SIV, compact, render_plate_image
from guetteur.adapters.plates.street import MOTIONS, GroundTruth, Street, VehicleSpec, placements

__all__ = [
    "FNI",
    "MOTIONS",
    "SIV",
    "GroundTruth",
    "VehicleSpec",
    "compact",
    "plan_vehicles",
    "render_plate_image",
    "render_video",
]

FPS = 25
GOP_FRAMES = 50


def _pick(rng: np.random.Generator, value: float | Sequence[float]) -> float:
    if isinstance(value, int | float):
        return float(value)
    return float(value[int(rng.integers(0, len(value)))])


def plan_vehicles(
    seconds: float,
    every_s: float = 20.0,
    seed: int = 0,
    *,
    fps: int = FPS,
    size: tuple[int, int] = (1920, 1080),
    char_height_px: float | tuple[float, float] = (25.0, 40.0),
    blur_sigma_px: float | Sequence[float] = (0.0, 0.8, 1.5),
    contrast: float | Sequence[float] = (1.0, 1.0, 0.6),
    motions: Sequence[str] = MOTIONS,
    formats: Sequence[str] = (SIV, FNI),
    angle_max_deg: float = 4.0,
    shear_max_deg: float = 8.0,
    speed_kmh: float = 15.0,
) -> list[VehicleSpec]:
    """A vehicle every ``every_s`` seconds (the first after 1 s), each drawn from its own
    random generator ``(seed, i)``. ``char_height_px`` is a value or a (min, max) range;
    ``blur_sigma_px`` and ``contrast`` a value or choices. Vehicles whose passage would not
    end inside the video are left out."""
    if every_s <= 0:
        raise ValueError(f"every_s must be positive, not {every_s}")
    specs = []
    for i in range(max(0, math.floor((seconds - 1.0) / every_s) + 1)):
        rng = np.random.default_rng([seed, i])
        fmt = formats[int(rng.integers(0, len(formats)))]
        low, high = (
            (char_height_px, char_height_px)
            if isinstance(char_height_px, int | float)
            else char_height_px
        )
        spec = VehicleSpec(
            enter_s=1.0 + i * every_s,
            text=platedraw.random_text(fmt, rng),
            fmt=fmt,
            style=platedraw.random_style(fmt, rng),
            motion=motions[i % len(motions)],
            char_height_px=round(float(rng.uniform(low, high)), 1),
            angle_deg=round(float(rng.uniform(-angle_max_deg, angle_max_deg)), 1),
            shear_deg=round(float(rng.uniform(-shear_max_deg, shear_max_deg)), 1),
            blur_sigma_px=_pick(rng, blur_sigma_px),
            contrast=_pick(rng, contrast),
            speed_kmh=speed_kmh,
            lane=round(float(rng.uniform(-0.15, 0.15)), 3),
            colour_seed=int(rng.integers(0, 2**31)),
        )
        path = placements(spec, size, fps)
        if path and path[-1].frame < round(seconds * fps):
            specs.append(spec)
    return specs


# ------------------------------------------------------------------------------- encoding


def _open_encoder(
    path: Path, size: tuple[int, int], fps: int, bitrate_kbps: int, preset: str, threads: int
) -> tuple[Any, Any]:
    import av

    fmt = "h264" if path.suffix.lower() in (".h264", ".264") else "mp4"
    container = av.open(str(path), "w", format=fmt)
    rate = f"{bitrate_kbps}k"
    stream = container.add_stream(
        "libx264",
        rate=fps,
        options={
            "preset": preset,
            "profile": "main",
            "g": str(GOP_FRAMES),
            "keyint_min": str(GOP_FRAMES),
            "sc_threshold": "0",
            "bf": "0",
            "maxrate": rate,
            "bufsize": rate,
            "x264-params": "repeat-headers=1:aud=1",
            "threads": str(threads),
        },
    )
    # Frame threads, as the ffmpeg command line: one slice per frame. PyAV's default (slice
    # threads) cuts frames into slices, and the simulator's RTSP payloader then puts SPS/PPS
    # between the slices of a keyframe, which breaks it (clips.check_source_clip refuses it).
    stream.codec_context.thread_type = "FRAME"
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.bit_rate = bitrate_kbps * 1000
    return container, stream


def render_video(
    path: Path,
    seconds: int,
    fps: int = FPS,
    size: tuple[int, int] = (1920, 1080),
    vehicles: Sequence[VehicleSpec] | None = None,
    seed: int = 0,
    *,
    every_s: float = 20.0,
    night: bool = False,
    bitrate_kbps: int = 4000,
    preset: str = "veryfast",
    frame_index: bool = True,
    encoder_threads: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[GroundTruth]:
    """Write the video at ``path`` and return the ground truth of every vehicle whose plate
    is wholly visible at least once, in order of entry. ``vehicles``: as given, or
    ``plan_vehicles(seconds, every_s, seed, fps=fps, size=size)`` when None.
    ``encoder_threads``: x264 threads, 0 = one per core (1 = bit-exact from run to run).
    ``progress(frames_done, frames_total)`` is called once a second of video is written."""
    if seconds <= 0 or (seconds * fps) % GOP_FRAMES:
        raise ValueError(
            f"seconds must make whole GOPs of {GOP_FRAMES} frames "
            f"(a multiple of {GOP_FRAMES / fps:g} s at {fps} fps), not {seconds}"
        )
    if size[0] % 2 or size[1] % 2:
        raise ValueError(f"the picture size must be even for yuv420p, not {size}")
    if vehicles is None:
        vehicles = plan_vehicles(seconds, every_s, seed, fps=fps, size=size)
    street = Street(size, fps, vehicles, seed, night, frame_index)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    container, stream = _open_encoder(tmp, size, fps, bitrate_kbps, preset, encoder_threads)
    try:
        total = seconds * fps
        for n in range(total):
            _encode(container, stream, street.frame(n), n)
            if progress is not None and (n + 1) % fps == 0:
                progress(n + 1, total)
        _encode(container, stream, None, seconds * fps)
        container.close()
        os.replace(tmp, path)
    except BaseException:
        container.close()
        tmp.unlink(missing_ok=True)
        raise
    return street.truths()


def _encode(container: Any, stream: Any, frame: np.ndarray | None, frame_no: int) -> None:
    """Encode one BGR frame (None flushes the encoder) and write its packets."""
    import av

    picture = None
    if frame is not None:
        picture = av.VideoFrame.from_ndarray(frame, format="bgr24")
        picture.pts = frame_no
    for packet in stream.encode(picture):
        container.mux(packet)


def truth_document(
    truths: Sequence[GroundTruth],
    video: Path,
    seconds: int,
    fps: int,
    size: tuple[int, int],
    seed: int,
    night: bool,
) -> dict[str, Any]:
    """The JSON written beside a video by the command line."""
    return {
        "video": video.name, "seconds": seconds, "fps": fps, "frames": seconds * fps,
        "width": size[0], "height": size[1], "seed": seed, "night": night,
        "font": platedraw.font_name(), "frame_index": "simulator/frameindex.py, n mod 4096",
        "vehicles": [{**asdict(t), "compact": t.compact} for t in truths],
    }  # fmt: skip


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m guetteur.adapters.plates.synth",
        description="Write a synthetic street video with French plates and its ground truth.",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--name",
        default="plates.h264",
        help="video file name: .h264 = raw Annex-B (simulator), else MP4",
    )
    p.add_argument("--seconds", type=int, default=120, help="length, a multiple of 2 (120)")
    p.add_argument("--every", type=float, default=20.0, help="one vehicle every N s (20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=_size, default=(1920, 1080), help="WxH (1920x1080)")
    p.add_argument(
        "--char-height",
        type=_floats,
        default=[25.0, 40.0],
        help="character height in px when nearest: H, or MIN,MAX (25,40)",
    )
    p.add_argument(
        "--blur",
        type=_floats,
        default=[0.0, 0.8, 1.5],
        help="Gaussian sigma in px, choices (0,0.8,1.5)",
    )
    p.add_argument(
        "--contrast",
        type=_floats,
        default=[1.0, 1.0, 0.6],
        help="contrast factors, choices (1,1,0.6)",
    )
    p.add_argument("--motion", choices=[*MOTIONS, "mixed"], default="mixed")
    p.add_argument("--speed-kmh", type=float, default=15.0)
    p.add_argument("--night", action="store_true", help="dark picture with sensor noise")
    p.add_argument("--bitrate-kbps", type=int, default=4000)
    p.add_argument("--preset", default="veryfast", help="x264 preset (veryfast)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    heights = args.char_height
    try:
        specs = plan_vehicles(
            args.seconds, args.every, args.seed, size=args.size,
            char_height_px=heights[0] if len(heights) == 1 else (heights[0], heights[1]),
            blur_sigma_px=args.blur, contrast=args.contrast, speed_kmh=args.speed_kmh,
            motions=MOTIONS if args.motion == "mixed" else (args.motion,),
        )  # fmt: skip
        args.out.mkdir(parents=True, exist_ok=True)
        video = args.out / args.name
        truths = render_video(
            video,
            args.seconds,
            size=args.size,
            vehicles=specs,
            seed=args.seed,
            night=args.night,
            bitrate_kbps=args.bitrate_kbps,
            preset=args.preset,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    document = truth_document(truths, video, args.seconds, FPS, args.size, args.seed, args.night)
    truth_file = video.with_suffix(".json")
    truth_file.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"{video} ({len(truths)} vehicles), ground truth in {truth_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
