"""Plate reading accuracy on synthetic French plates, and the cost of reading a frame or a crop.

Accuracy: for every bucket character height (10, 15, 20, 25, 30, 40, 50 px) x blur (none,
moderate = Gaussian sigma 1 px, strong = 2 px) x contrast (normal 1.0, low 0.4) x night (off,
on), `--per-bucket` vehicle crops (`synth.render_plate_image`: about 2.9 x 1.3 plate widths,
half SIV half FNI, random FNI colours, rotation within +-4 degrees, shear within +-8 degrees,
JPEG quality `--jpeg-quality` as a stand-in for the camera's H.264) are read by `PlateOCR`
(one thread, detector at `--crop-max-side`). The compared text is the best candidate's
(`ocr.best_candidate`: 4-10 letters or digits, highest score) compact text against the truth's:
raw, and after `domain.plates.normalise` (French formats, look-alikes fixed by position).

Cost: a 1080p street video from `synth.render_video` (two vehicles, characters 30 px, real
libx264 at 4 Mbit/s) is decoded; on every frame where a plate is wholly visible, `read(frame,
max_side=960)` is timed, then `read(crop, max_side=S)` for each of `--crop-sides` on a
vehicle-sized crop around what the frame read found. The frame is the crop's baseline: the
same plate in the same picture. Times are CPU (`process_time`: onnxruntime runs in the calling
thread with one intra-op thread) and wall. Start-up (import, sessions, first read) is measured
once, in this process.

    .venv/bin/python bench/plate_accuracy.py [--per-bucket 40] [--heights 10 15 20 25 30 40 50]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _common import code_version, command_line, machine, percentile, table

from guetteur.adapters.plates import ocr as plate_ocr
from guetteur.adapters.plates import platedraw, synth
from guetteur.domain.plates import normalise

BLURS = {"none": 0.0, "moderate": 1.0, "strong": 2.0}
CONTRASTS = {"normal": 1.0, "low": 0.4}
NIGHTS = {"day": False, "night": True}


@dataclass
class Bucket:
    height_px: int
    blur: str
    contrast: str
    light: str
    n: int = 0
    raw_ok: int = 0
    norm_ok: int = 0
    no_candidate: int = 0
    cpu_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)

    def row(self) -> list[object]:
        return [
            self.height_px,
            self.blur,
            self.contrast,
            self.light,
            self.n,
            pct(self.raw_ok, self.n),
            pct(self.norm_ok, self.n),
            pct(self.no_candidate, self.n),
            mean(self.cpu_ms),
            mean(self.wall_ms),
        ]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


class Clock:
    """CPU time of this process (onnxruntime runs in the calling thread with one intra-op
    thread, so this is the read's CPU, unlike wall time on a shared machine) and wall time."""

    def __enter__(self) -> Clock:
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.cpu_ms = (time.process_time() - self.cpu0) * 1000
        self.wall_ms = (time.perf_counter() - self.wall0) * 1000


def pct(k: int, n: int) -> str:
    return f"{100 * k / n:.0f}" if n else "n/a"


def normalised(text: str) -> str:
    plate = normalise(text)
    return plate.compact if plate is not None else synth.compact(text)


def run_accuracy(reader: plate_ocr.PlateOCR, args: argparse.Namespace) -> list[Bucket]:
    buckets = []
    combos = itertools.product(args.heights, BLURS, CONTRASTS, NIGHTS)
    for b_no, (height, blur, contrast, light) in enumerate(combos):
        bucket = Bucket(height, blur, contrast, light)
        for i in range(args.per_bucket):
            rng = np.random.default_rng([args.seed, b_no, i])
            fmt = synth.SIV if i % 2 == 0 else synth.FNI
            text = platedraw.random_text(fmt, rng)
            crop = synth.render_plate_image(
                text, fmt, float(height), angle_deg=float(rng.uniform(-4, 4)),
                blur=BLURS[blur], contrast=CONTRASTS[contrast], night=NIGHTS[light],
                seed=int(rng.integers(0, 2**31)), shear_deg=float(rng.uniform(-8, 8)),
                jpeg_quality=args.jpeg_quality or None,
            )  # fmt: skip
            with Clock() as clock:
                boxes = reader.read(crop, max_side=args.crop_max_side)
            bucket.cpu_ms.append(clock.cpu_ms)
            bucket.wall_ms.append(clock.wall_ms)
            best = plate_ocr.best_candidate(boxes)
            truth = synth.compact(text)
            bucket.n += 1
            if best is None:
                bucket.no_candidate += 1
                continue
            bucket.raw_ok += best.compact == truth
            bucket.norm_ok += normalised(best.text) == truth
        buckets.append(bucket)
        print(
            f"  {height:>2} px {blur:>8} {contrast:>6} {light:>5}: raw "
            f"{pct(bucket.raw_ok, bucket.n)} %, normalised {pct(bucket.norm_ok, bucket.n)} %",
            file=sys.stderr,
            flush=True,
        )
    return buckets


def pivot(buckets: list[Bucket], heights: list[int]) -> tuple[list[str], list[list[object]]]:
    """Rows: character height; columns: conditions; cells: 'raw/normalised' exact %."""
    conditions = list(itertools.product(BLURS, CONTRASTS, NIGHTS))
    by_key = {(b.height_px, b.blur, b.contrast, b.light): b for b in buckets}
    headers = ["chars px"] + [f"{bl[:3]} {co[:3]} {li[:3]}" for bl, co, li in conditions]
    rows: list[list[object]] = []
    for h in heights:
        row: list[object] = [h]
        for c in conditions:
            b = by_key[(h, *c)]
            row.append(f"{pct(b.raw_ok, b.n)}/{pct(b.norm_ok, b.n)}")
        rows.append(row)
    return headers, rows


def run_frames(reader: plate_ocr.PlateOCR, args: argparse.Namespace) -> list[list[object]]:
    """OCR of whole 1080p frames at max_side 960 against vehicle crops, on decoded H.264."""
    import av

    specs = [
        synth.VehicleSpec(0.5, "GH-482-KT", synth.SIV, "siv", "lateral", 30.0, 2.0, 4.0),
        synth.VehicleSpec(
            3.0, "4721 WX 69", synth.FNI, "fni-rear", "approach", 30.0, -1.5, -5.0, speed_kmh=25.0
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="plate-bench-") as tmp:
        video = Path(tmp) / "street.h264"
        t0 = time.perf_counter()
        truths = synth.render_video(video, 6, vehicles=specs, seed=args.seed)
        render_s = time.perf_counter() - t0
        wanted = {}
        for t in truths:
            span = range(t.first_frame, t.last_frame + 1)
            step = max(1, len(span) // args.frames)
            for n in list(span)[::step][: args.frames]:
                wanted[n] = t
        frames = {}
        with av.open(str(video), format="h264") as container:
            for n, frame in enumerate(container.decode(video=0)):
                if n in wanted:
                    frames[n] = frame.to_ndarray(format="bgr24")
    print(
        f"# street video: 6 s 1080p rendered and encoded in {render_s:.1f} s; "
        f"{len(frames)} frames with a plate wholly visible are read",
        file=sys.stderr,
    )
    frame_clocks: list[Clock] = []
    crop_clocks: dict[int, list[Clock]] = {side: [] for side in args.crop_sides}
    crop_ok = dict.fromkeys(args.crop_sides, 0)
    frame_ok, crop_sizes = 0, []
    for n, image in sorted(frames.items()):
        truth = wanted[n].compact
        with Clock() as clock:
            boxes = reader.read(image, max_side=960)
        frame_clocks.append(clock)
        best = plate_ocr.best_candidate(boxes)
        if best is None:
            continue
        frame_ok += normalised(best.text) == truth
        x, y, w, h = best.box
        cx, cy, cw, ch = x + w / 2, y + h / 2, w * 2.9, w * 1.3
        x0, y0 = max(0, round(cx - cw / 2)), max(0, round(cy - ch / 2))
        crop = image[y0 : round(cy + ch / 2), x0 : round(cx + cw / 2)]
        crop_sizes.append(f"{crop.shape[1]}x{crop.shape[0]}")
        for side in args.crop_sides:
            with Clock() as clock:
                got = plate_ocr.best_candidate(reader.read(crop, max_side=side))
            crop_clocks[side].append(clock)
            crop_ok[side] += got is not None and normalised(got.text) == truth
    sizes = sorted(set(crop_sizes), key=crop_sizes.count)[-1] if crop_sizes else "-"
    rows: list[list[object]] = []
    runs = [("1920x1080 frame", 960, frame_clocks, frame_ok)]
    runs += [
        (f"vehicle crop (typ. {sizes})", side, crop_clocks[side], crop_ok[side])
        for side in args.crop_sides
    ]
    for what, side, clocks, ok in runs:
        cpu = [c.cpu_ms for c in clocks]
        rows.append(
            [
                what,
                side,
                len(clocks),
                f"{ok}/{len(clocks)}",
                mean(cpu),
                percentile(cpu, 95),
                mean([c.wall_ms for c in clocks]),
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-bucket", type=int, default=40)
    parser.add_argument("--heights", type=int, nargs="+", default=[10, 15, 20, 25, 30, 40, 50])
    parser.add_argument(
        "--crop-max-side",
        type=int,
        default=480,
        help="detector size for the accuracy buckets' crops (default 480)",
    )
    parser.add_argument(
        "--crop-sides",
        type=int,
        nargs="+",
        default=[320, 480, 960],
        help="detector sizes timed on crops of the video (320 480 960)",
    )
    parser.add_argument("--jpeg-quality", type=int, default=60, help="0: no JPEG step")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    parser.add_argument("--frames", type=int, default=10, help="frames timed per vehicle")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    print(f"# plate_accuracy — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"command: {command_line()}\nmachine: {machine()}\n{code_version()}")
    paths = plate_ocr.model_paths()
    print(
        f"models: {paths.det.name}, {paths.rec.name} (rapidocr wheel); font: "
        f"{platedraw.font_name()}\n"
    )
    t0 = time.perf_counter()
    reader = plate_ocr.PlateOCR(threads=args.threads)
    built_s = time.perf_counter() - t0
    warm = synth.render_plate_image("AB-123-CD", synth.SIV, 30.0)
    t0 = time.perf_counter()
    reader.read(warm, max_side=args.crop_max_side)
    first_ms = (time.perf_counter() - t0) * 1000
    print("## Start-up\n")
    print(
        table(
            ["what", "seconds"],
            [
                ["import rapidocr (+ onnxruntime, omegaconf ...)", reader.import_s],
                ["create both ONNX sessions (det + rec)", reader.load_s],
                ["PlateOCR() in all", built_s],
                ["first read of a crop after that", first_ms / 1000],
            ],
        )
    )
    print(
        "\n## OCR cost: whole 1080p frame against a vehicle crop (decoded H.264, "
        f"{args.threads} thread)\n"
    )
    print(
        table(
            [
                "input",
                "detector max side",
                "reads",
                "plate exact (normalised)",
                "mean CPU ms",
                "p95 CPU ms",
                "mean wall ms",
            ],
            run_frames(reader, args),
        )
    )
    if args.skip_accuracy:
        return
    buckets = run_accuracy(reader, args)
    print(
        f"\n## Exact reads by bucket ({args.per_bucket} plates each, JPEG q"
        f"{args.jpeg_quality or '-'}, detector max side {args.crop_max_side})\n"
    )
    print(
        table(
            [
                "chars px",
                "blur",
                "contrast",
                "light",
                "n",
                "exact raw %",
                "exact normalised %",
                "no candidate %",
                "CPU ms/crop",
                "wall ms/crop",
            ],
            [b.row() for b in buckets],
        )
    )
    headers, rows = pivot(buckets, args.heights)
    print(
        "\n## Summary: exact % raw/normalised (blur none/moderate/strong, contrast "
        "normal/low, day/night)\n"
    )
    print(table(headers, rows))


if __name__ == "__main__":
    main()
