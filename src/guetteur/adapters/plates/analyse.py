"""Analyse one recorded segment for licence plates, deciding what to decode before decoding.

Cost model (FIELD-NOTES, measured here): decoding every 1080p frame costs ~3.3 ms, a keyframe
alone ~35 ms, OCR of a whole 960-px frame 0.2–0.3 s, of a vehicle-sized crop 55–75 ms. The
5-minute target for 20 camera-hours on 2 cores leaves ~30 core-seconds per camera-hour, so:

1. **Motion gating from compressed sizes.** All packets of the segment are demuxed (no
   decoding) and grouped into GOPs. A GOP whose predicted frames weigh clearly more than the
   segment's quiet GOPs has something moving in it; only those GOPs (and the one after each,
   where a vehicle is often best placed) are looked at.
2. **Keyframes only.** In a selected GOP only the keyframe is decoded (an IDR decodes alone).
3. **Crops, not frames.** The decoded keyframe is compared, at 1/4 scale, with a background
   keyframe of the same segment (its quietest GOP); the changed regions, scaled back and
   padded, are what the OCR reads. No region found: the whole frame is read.

Without gating (`gating=False`, the benchmark's baseline) every keyframe is decoded and read
whole. The function runs in a worker process (never in the web process): it returns plain
data (reads with a small JPEG of the plate) for the service to normalise, group and index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

SCALE = 4  # motion is found at 1/4 of the frame's size
MOTION_RATIO = 1.08  # a GOP is active when its P-frames weigh 8 % over the quiet level
MIN_REGION_PX = 400  # at 1/4 scale: smaller changes are noise
MAX_REGIONS = 3
CROP_MAX_SIDE = 800


@dataclass
class Read:
    at_utc_us: int
    text: str  # as the OCR read it
    score: float
    box: tuple[int, int, int, int]  # x, y, w, h in the frame
    crop_jpeg: bytes = b""


@dataclass
class SegmentResult:
    reads: list[Read] = field(default_factory=list)
    gops: int = 0
    gops_looked: int = 0
    keyframes_decoded: int = 0
    ocr_calls: int = 0
    seconds: float = 0.0


@dataclass
class _Gop:
    key: Any  # the keyframe packet
    pts: int
    p_bytes: int = 0


def _gops(path: Path) -> tuple[list[_Gop], Any, int]:
    container = av.open(str(path))
    stream = container.streams.video[0]
    gops: list[_Gop] = []
    first_pts = None
    for pkt in container.demux(stream):
        if pkt.dts is None or pkt.size == 0:
            continue
        pts = pkt.pts if pkt.pts is not None else pkt.dts
        if first_pts is None:
            first_pts = pts
        if pkt.is_keyframe:
            gops.append(_Gop(pkt, pts))
        elif gops:
            gops[-1].p_bytes += pkt.size
    time_base = stream.time_base
    codec = av.CodecContext.create(stream.codec_context.name, "r")
    codec.extradata = stream.codec_context.extradata
    codec.thread_count = 1
    container.close()
    return gops, (codec, time_base), first_pts or 0


def select_gops(p_bytes: list[int], ratio: float = MOTION_RATIO) -> list[int]:
    """Indexes of the GOPs to look at: those heavier than the segment's quiet level (its lower
    quartile: the empty scene, noise included) by `ratio`, and the one after each."""
    if not p_bytes:
        return []
    typical = sorted(p_bytes)[len(p_bytes) // 4]
    active = {i for i, size in enumerate(p_bytes) if size > typical * ratio}
    return sorted(active | {i + 1 for i in active if i + 1 < len(p_bytes)})


def _decode(codec: Any, packet: Any) -> np.ndarray | None:
    # one thread and no B-frames: an IDR comes out of the decoder as soon as it goes in
    for frame in codec.decode(packet):
        return frame.to_ndarray(format="bgr24")
    return None


def _small(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    gray = cv2.cvtColor(cv2.resize(image, (w // SCALE, h // SCALE),
                                   interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    return cv2.GaussianBlur(gray, (5, 5), 0)


def regions(image: np.ndarray, background: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Changed regions of `image` against `background` (both at 1/SCALE, grey), in full-size
    pixels, padded, largest first."""
    diff = cv2.absdiff(_small(image), background)
    _, mask = cv2.threshold(diff, 28, 255, cv2.THRESH_BINARY)
    mask = cv2.dilate(mask, np.ones((5, 5), np.uint8), iterations=3)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = sorted((cv2.boundingRect(c) for c in contours
                    if cv2.contourArea(c) >= MIN_REGION_PX), key=lambda b: -b[2] * b[3])
    h, w = image.shape[:2]
    result = []
    for x, y, bw, bh in boxes[:MAX_REGIONS]:
        pad_x, pad_y = bw * SCALE // 8, bh * SCALE // 8
        x0, y0 = max(0, x * SCALE - pad_x), max(0, y * SCALE - pad_y)
        x1, y1 = min(w, (x + bw) * SCALE + pad_x), min(h, (y + bh) * SCALE + pad_y)
        result.append((x0, y0, x1 - x0, y1 - y0))
    return result


def _plate_jpeg(image: np.ndarray, box: tuple[int, int, int, int]) -> bytes:
    x, y, w, h = box
    pad_x, pad_y = w // 2, h
    crop = image[max(0, y - pad_y):y + h + pad_y, max(0, x - pad_x):x + w + pad_x]
    if crop.size == 0:
        return b""
    ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return data.tobytes() if ok else b""


def analyse_segment(path: Path, start_utc_us: int, ocr: Any, gating: bool = True,
                    min_score: float = 0.5) -> SegmentResult:
    """Plate texts read in the segment at `path`, whose first frame is at `start_utc_us`.
    `ocr.read(image, max_side)` returns boxes with `.text`, `.score`, `.box` (x, y, w, h)."""
    t0 = time.process_time()
    result = SegmentResult()
    gops, (codec, time_base), first_pts = _gops(path)
    result.gops = len(gops)
    if not gops:
        return result
    us_per_tick = float(time_base) * 1e6
    if gating:
        chosen = select_gops([g.p_bytes for g in gops])
        quiet = min(range(len(gops)), key=lambda i: gops[i].p_bytes)
    else:
        chosen, quiet = list(range(len(gops))), -1
    result.gops_looked = len(chosen)
    background = None
    if gating and chosen:
        frame = _decode(codec, gops[quiet].key)
        result.keyframes_decoded += 1
        background = _small(frame) if frame is not None else None
    for index in chosen:
        gop = gops[index]
        image = _decode(codec, gop.key)
        result.keyframes_decoded += 1
        if image is None:
            continue
        at = start_utc_us + round((gop.pts - first_pts) * us_per_tick)
        areas = regions(image, background) if background is not None else []
        crops = [(image[y:y + h, x:x + w], (x, y)) for x, y, w, h in areas] or [(image, (0, 0))]
        for crop, (ox, oy) in crops:
            result.ocr_calls += 1
            side = CROP_MAX_SIDE if crop is not image else 960
            for box in ocr.read(crop, max_side=side):
                if box.score < min_score:
                    continue
                bx, by, bw, bh = box.box
                full = (bx + ox, by + oy, bw, bh)
                result.reads.append(Read(at, box.text, float(box.score), full,
                                         _plate_jpeg(image, full)))
    result.seconds = time.process_time() - t0
    return result
