"""Analyse one recorded segment for licence plates, decoding as little as possible.

Cost model (measured here, one thread; bench/plate_throughput.py): opening a segment with
libavformat and demuxing its packets ~70 ms; decoding a 1080p keyframe ~30 ms, a predicted
frame after it ~4 ms; OCR of a whole frame (detector at 960 px) 0.3-0.4 s, of a vehicle crop
~60 ms (detector at 320 px). The 5-minute target for 20 camera-hours on 2 cores leaves ~30
core-seconds per camera-hour (0.5 s per 60-s segment): less than decoding every keyframe (30 a
minute) costs, see bench/RESULTS.md for what is reached.

1. **No libavformat.** The segments' samples come from their fragment tables
   (`samples.Source`, ~8 ms a segment) and only the samples decoded are read from the file.
2. **Motion from the sub-stream, else from the keyframes; never from packet sizes.** Cameras
   encode at a capped (often constant) bitrate with sensor noise: a GOP's compressed size
   hardly moves when a vehicle crosses (measured on the benchmark's footage). When the
   camera's sub-stream was recorded (what the live wall shows, 640x360 typically), its
   keyframes are decoded (~10x cheaper than 1080p ones), their luma scaled to 1/4 of the main
   picture and compared with their own background; only the main keyframes just before and
   after a change are decoded, compared with that background. Without a sub-stream every main
   keyframe is decoded (an IDR decodes alone) and compared with the per-pixel median of a few
   of them. Either way, areas that change at most keyframes (a burnt-in clock, leaves) are left
   out; changed parts close to each other are one vehicle (a grey car on a grey road shows
   only its lights, windows and plate).
3. **One crop per vehicle, where the plate is.** A region big enough for its characters to be
   readable (longest side at least `MIN_READ_SIZE` px: a car is ~24 character heights wide)
   and not cut by the left or right edge is read: its lower part only (a plate sits low on a
   vehicle), converted to BGR alone, with the detector at `CROP_MAX_SIDE` px. A region that
   stays where it was at the previous keyframe (a parked vehicle) is not read again.
4. **Between keyframes only where a vehicle was caught badly.** A vehicle cut by the frame's
   edge, too small, or read without a confident French plate (score >= `CONFIDENT`, SIV or
   FNI once normalised) at a keyframe is looked for in the frames around it: the GOP after
   the keyframe is decoded (every frame: P-frames depend on each other) and looked at every
   `SCAN_STEP` frames, reading a vehicle again when it grew or moved; if the vehicle cut by
   the edge shrinks (it is leaving), the GOP before the keyframe is scanned instead. A vehicle
   that crosses the picture entirely between two keyframes (2 s apart) is not seen.

Without gating (`gating=False`, the benchmark's baseline) every keyframe is decoded and read
whole. The function runs in a worker process (never in the web process): it returns plain
data (reads with a small JPEG of the plate) for the service to normalise, group and index.
Memory: the decoded keyframes of one segment are held until its regions are known (~3 MB
each at 1080p, 30 a minute).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from guetteur.adapters.plates.samples import Source
from guetteur.domain.plates import normalise

SCALE = 4  # motion is found at 1/4 of the frame's size
DIFF_THRESHOLD = 28  # grey levels (blurred, 1/4 scale) between a frame and the background
MIN_REGION_PX = 400  # at 1/4 scale: smaller changes are noise
MAX_REGIONS = 3
BACKGROUND_SAMPLES = 7  # keyframes whose per-pixel median is the background
EDGE_PX = 2  # at 1/4 scale: a region this close to the left or right edge is cut by it
MIN_FRAGMENT_PX = 100  # at 1/4 scale: a changed area this big may be part of a vehicle
MERGE_GAP = 12  # at 1/4 scale: parts this close are one vehicle (a grey car on a grey road)
MIN_READ_SIZE = 320  # full-size px of a padded region's longest side: smaller, characters are
#                      under ~12 px (a car is ~24 character heights wide, ~19 high)
CROP_TOP = 0.35  # the crop read starts this far down the region (plates sit low on a vehicle)
CROP_MAX_SIDE = 320  # the detector's input for a crop
FRAME_MAX_SIDE = 960  # for a whole frame (no background to compare with, or no gating)
CONFIDENT = 0.9  # a plate read at least this sure ends the search for that vehicle
SCAN_STEP = 4  # frames between two looks while scanning a GOP
MAX_SCAN_READS = 3  # OCR calls at most per scanned GOP
SAME_PLACE_IOU = 0.8  # a region this close to one read at the previous keyframe is parked
OVERLAY_IOU = 0.7  # a text read again where it was ...
OVERLAY_TIMES = 3  # ... at this many instants ...
OVERLAY_SPAN_US = 10_000_000  # ... over this long is burnt into the picture (drop_overlays)
SUB_STEP = 5  # thorough: sub-stream frames between two looks (0.2 s at 25 fps)
BUSY_SHARE = 0.7  # what changes in this share of the keyframes (a burnt-in clock) is ignored


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
    gops_looked: int = 0  # GOPs whose predicted frames were decoded (gating), or keyframes read
    keyframes_decoded: int = 0
    ocr_calls: int = 0
    seconds: float = 0.0
    frames_decoded: int = 0  # keyframes and predicted frames
    guide_keyframes_decoded: int = 0  # of the sub-stream, when it guides the analysis
    guide_frames_decoded: int = 0  # of the sub-stream: its keyframes, or all (thorough)
    error: str = ""  # the segment could not be read (damaged): why


# --------------------------------------------------------------------------- pixels

def _planes(frame: Any) -> list[np.ndarray]:
    out = []
    for plane in frame.planes:
        a = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        out.append(a[:, :plane.width])
    return out


def _small(frame: Any) -> np.ndarray:
    """The frame's luma at 1/SCALE, blurred: what motion is measured on."""
    y = _planes(frame)[0]
    h, w = y.shape
    small = cv2.resize(y, (w // SCALE, h // SCALE), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (5, 5), 0)


def _bgr(frame: Any, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """BGR pixels of `box` (x, y, w, h) of a yuv420p frame, converted alone; the whole frame
    when None."""
    if box is None or frame.format.name != "yuv420p":
        image = frame.to_ndarray(format="bgr24")
        if box is None:
            return image
        x, y, w, h = box
        return np.ascontiguousarray(image[y:y + h, x:x + w])
    x, y, w, h = box
    # I420 for OpenCV: Y (h x w) then U and V (h/2 x w/2 each) as h/4 rows of w
    x0, y0 = x & ~3, y & ~3
    x1 = min(frame.width & ~3, (x + w + 3) & ~3)
    y1 = min(frame.height & ~3, (y + h + 3) & ~3)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return np.zeros((0, 0, 3), np.uint8)
    py, pu, pv = _planes(frame)
    cw, ch = (x1 - x0) // 2, (y1 - y0) // 2
    u = pu[y0 // 2:y0 // 2 + ch, x0 // 2:x0 // 2 + cw].reshape(-1, x1 - x0)
    v = pv[y0 // 2:y0 // 2 + ch, x0 // 2:x0 // 2 + cw].reshape(-1, x1 - x0)
    i420 = np.concatenate([py[y0:y1, x0:x1], u, v])
    image = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
    return np.ascontiguousarray(image[y - y0:y - y0 + h, x - x0:x - x0 + w])


@dataclass
class _Region:
    box: tuple[int, int, int, int]  # full-size, padded: x, y, w, h
    cut: str  # "left", "right" or "" (the frame's edge cuts the vehicle)
    area: int  # at 1/4 scale, before padding

    @property
    def readable(self) -> bool:
        return not self.cut and max(self.box[2], self.box[3]) >= MIN_READ_SIZE


def _changed(small: np.ndarray, background: np.ndarray) -> np.ndarray:
    _, mask = cv2.threshold(cv2.absdiff(small, background), DIFF_THRESHOLD, 255,
                            cv2.THRESH_BINARY)
    return mask


def regions(small: np.ndarray, background: np.ndarray, size: tuple[int, int],
            busy: np.ndarray | None = None) -> list[_Region]:
    """Changed regions of a frame (its `_small`) against the background, in full-size pixels
    (frame `size` = width, height), padded, largest first; `busy` (same size as `small`,
    non-zero where the picture always changes) is left out."""
    mask = _changed(small, background)
    if busy is not None:
        mask[busy > 0] = 0
    mask = cv2.dilate(mask, np.ones((5, 5), np.uint8), iterations=3)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    parts = [(cv2.boundingRect(c), area) for c in contours
             if (area := cv2.contourArea(c)) >= MIN_FRAGMENT_PX]
    boxes = sorted((box for box, area in _merge(parts) if area >= MIN_REGION_PX),
                   key=lambda b: -b[2] * b[3])
    w, h = size
    sw = small.shape[1]
    result = []
    for x, y, bw, bh in boxes[:MAX_REGIONS]:
        cut = "left" if x <= EDGE_PX else "right" if x + bw >= sw - EDGE_PX else ""
        pad_x, pad_y = bw * SCALE // 8, bh * SCALE // 8
        x0, y0 = max(0, x * SCALE - pad_x), max(0, y * SCALE - pad_y)
        x1, y1 = min(w, (x + bw) * SCALE + pad_x), min(h, (y + bh) * SCALE + pad_y)
        result.append(_Region((x0, y0, x1 - x0, y1 - y0), cut, bw * bh))
    return result


def _merge(parts: list[tuple[tuple[int, int, int, int], float]]
           ) -> list[tuple[tuple[int, int, int, int], float]]:
    """Boxes closer than MERGE_GAP joined (their areas summed), until none are."""
    merged = list(parts)
    joined = True
    while joined:
        joined = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                (ax, ay, aw, ah), a_area = merged[i]
                (bx, by, bw, bh), b_area = merged[j]
                if (max(ax, bx) - min(ax + aw, bx + bw) <= MERGE_GAP
                        and max(ay, by) - min(ay + ah, by + bh) <= MERGE_GAP):
                    x0, y0 = min(ax, bx), min(ay, by)
                    x1, y1 = max(ax + aw, bx + bw), max(ay + ah, by + bh)
                    merged[i] = ((x0, y0, x1 - x0, y1 - y0), a_area + b_area)
                    del merged[j]
                    joined = True
                    break
            if joined:
                break
    return merged


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    smaller = min(a[2] * a[3], b[2] * b[3])
    return ix * iy / smaller if smaller else 0.0


def _changed_view(before: tuple[int, int, int, int], now: tuple[int, int, int, int]) -> bool:
    """Whether a vehicle read at `before` is worth reading again at `now`: it grew by a
    third, or moved by a quarter of its size (the plate is seen anew)."""
    if max(now[2], now[3]) >= 1.3 * max(before[2], before[3]):
        return True
    dx = abs(now[0] + now[2] / 2 - before[0] - before[2] / 2)
    dy = abs(now[1] + now[3] / 2 - before[1] - before[3] / 2)
    return dx >= before[2] / 4 or dy >= before[3] / 4


def _plate_jpeg(frame: Any, box: tuple[int, int, int, int]) -> bytes:
    x, y, w, h = box
    pad_x, pad_y = w // 2, h
    x0, y0 = max(0, x - pad_x), max(0, y - pad_y)
    x1, y1 = min(frame.width, x + w + pad_x), min(frame.height, y + h + pad_y)
    if x1 <= x0 or y1 <= y0:
        return b""
    crop = _bgr(frame, (x0, y0, x1 - x0, y1 - y0))
    if crop.size == 0:
        return b""
    ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return data.tobytes() if ok else b""


# --------------------------------------------------------------------------- analysis

class _Analysis:
    def __init__(self, src: Source, start_utc_us: int, ocr: Any, min_score: float,
                 result: SegmentResult) -> None:
        self.src = src
        self.start = start_utc_us
        self.ocr = ocr
        self.min_score = min_score
        self.result = result

    def decode(self, index: int) -> Any | None:
        frame = self.src.decode(index)
        self.result.frames_decoded += 1
        if self.src.samples[index].key:
            self.result.keyframes_decoded += 1
        return frame

    def read(self, frame: Any, index: int, box: tuple[int, int, int, int] | None) -> float:
        """OCR of a region's lower part (or of the whole frame); the best plate-like score
        read, 0 when none."""
        self.result.ocr_calls += 1
        if box is None:
            image, ox, oy, side = _bgr(frame), 0, 0, FRAME_MAX_SIDE
        else:
            x, y, w, h = box
            top = round(h * CROP_TOP)
            ox, oy, side = x, y + top, CROP_MAX_SIDE
            image = _bgr(frame, (x, oy, w, h - top))
            if image.size == 0:
                return 0.0
        best = 0.0
        at = self.start + self.src.us(index)
        for found in self.ocr.read(image, max_side=side):
            if found.score < self.min_score:
                continue
            bx, by, bw, bh = found.box
            full = (bx + ox, by + oy, bw, bh)
            self.result.reads.append(Read(at, found.text, float(found.score), full,
                                          _plate_jpeg(frame, full)))
            plate = normalise(found.text)
            if plate is not None and plate.kind != "foreign":  # a French plate, well formed
                best = max(best, float(found.score))
        return best

    def scan(self, g: int, background: np.ndarray, busy: np.ndarray,
             done: list[tuple[int, int, int, int]], leaving: str = "") -> str:
        """Look at the frames of GOP `g` every SCAN_STEP frames and read the vehicles seen
        well there that `done` (boxes already read with a confident plate) does not cover.
        With `leaving` = an edge, the scan stops at the first look if the region cut by that
        edge shrank: the vehicle is going out, and "left" / "right" is returned."""
        self.result.gops_looked += 1
        size = None
        tries: list[list[Any]] = []  # [box where last seen, best score] of vehicles read
        reads = 0
        edge: tuple[tuple[int, int, int, int], int] | None = None  # cut region at the key
        seen = False
        for n, index in enumerate(self.src.gop(g)):
            frame = self.decode(index)
            if frame is None:
                continue
            if n == 0:
                size = (frame.width, frame.height)
                if leaving:
                    found = regions(_small(frame), background, size, busy)
                    edge = max(((r.box, r.area) for r in found if r.cut == leaving),
                               key=lambda e: e[1], default=None)
                continue
            if n % SCAN_STEP:
                continue
            assert size is not None
            found = regions(_small(frame), background, size, busy)
            if edge is not None:  # the vehicle at the edge: coming in, or going out?
                now = max((r.area for r in found if _overlap(r.box, edge[0]) > 0), default=0)
                if now < edge[1]:
                    return leaving
                edge = None
            if not found:
                if seen:
                    break  # the vehicles have gone
                continue
            seen = True
            pending = False
            for region in found:
                box = region.box
                k = next((i for i, b in enumerate(done) if _overlap(box, b) > 0.5), None)
                if k is not None:  # read confidently already: follow it
                    done[k] = box
                    continue
                pending = True
                if not region.readable or reads >= MAX_SCAN_READS:
                    continue
                tried = next((t for t in tries if _overlap(box, t[0]) > 0.5), None)
                if tried is not None and not _changed_view(tried[0], box):
                    continue  # the same vehicle, read just before, seen much the same
                score = self.read(frame, index, box)
                reads += 1
                if tried is None:
                    tries.append([box, score])
                else:
                    tried[0], tried[1] = box, max(tried[1], score)
                if score >= CONFIDENT:
                    done.append(box)
            if not pending or reads >= MAX_SCAN_READS:
                break  # every vehicle in view is read, or enough tries
        return ""


def analyse_segment(path: Path, start_utc_us: int, ocr: Any, gating: bool = True,
                    min_score: float = 0.5,
                    guide: Sequence[tuple[Path, int]] = (),
                    thorough: bool = False) -> SegmentResult:
    """Plate texts read in the segment at `path`, whose first frame is at `start_utc_us`.
    `ocr.read(image, max_side)` returns boxes with `.text`, `.score`, `.box` (x, y, w, h).
    `guide`: the same camera's sub-stream segments (path, UTC of their first frame) over the
    same time; with gating, motion is found on them and only the keyframes of `path` around it
    are decoded. `thorough`: every sub-stream frame is decoded and looked at every SUB_STEP
    frames, and the main GOPs where something moves between keyframes are scanned (a vehicle
    that crosses the picture between two keyframes is found); without a sub-stream, every main
    GOP is scanned. Several times slower."""
    t0 = time.process_time()
    result = SegmentResult()
    src = Source(path)
    try:
        result.gops = len(src.keys)
        if not src.keys:
            return result
        job = _Analysis(src, start_utc_us, ocr, min_score, result)
        if not gating or len(src.keys) < 3:  # too short for a background: read whole
            for index in src.keys:
                frame = job.decode(index)
                if frame is not None:
                    result.gops_looked += 1
                    job.read(frame, index, None)
        else:
            plan = _motion_from_guide(job, src, guide, thorough) if guide else None
            if plan is None:
                plan = _motion_from_keyframes(job, src)
                if plan is not None and thorough:
                    plan.scan.update(range(len(src.keys)))
            if plan is not None:
                _read_vehicles(job, src, plan)
    finally:
        src.close()
    result.reads = drop_overlays(result.reads)
    result.seconds = time.process_time() - t0
    return result


def drop_overlays(reads: list[Read]) -> list[Read]:
    """Without the texts burnt into the picture: the camera's name, a street sign, a shop's
    lettering behind moving things. A text read at the same place (boxes overlapping by
    OVERLAY_IOU) at OVERLAY_TIMES different instants spanning OVERLAY_SPAN_US or more is not
    a vehicle's plate (a vehicle that stops is read while it comes, elsewhere in the picture:
    those reads stay)."""
    clusters: list[tuple[str, list[Read]]] = []
    for read in reads:
        plate = normalise(read.text)
        text = plate.compact if plate is not None else read.text
        cluster = next((c for t, c in clusters
                        if t == text and _iou(c[0].box, read.box) >= OVERLAY_IOU), None)
        if cluster is None:
            clusters.append((text, [read]))
        else:
            cluster.append(read)
    burnt = set()
    for _text, cluster in clusters:
        times = sorted({r.at_utc_us for r in cluster})
        if len(times) >= OVERLAY_TIMES and times[-1] - times[0] >= OVERLAY_SPAN_US:
            burnt.update(id(r) for r in cluster)
    return [r for r in reads if id(r) not in burnt]


@dataclass
class _Plan:
    """Where the vehicles may be: the background and the always-changing areas (1/SCALE of
    the frame), and the keyframes to look at, decoded already or to decode (None)."""
    background: np.ndarray
    busy: np.ndarray
    size: tuple[int, int]
    keyframes: dict[int, Any | None]  # GOP -> decoded keyframe, or None: decode when needed
    smalls: dict[int, np.ndarray] = field(default_factory=dict)  # of the decoded keyframes
    scan: set[int] = field(default_factory=set)  # GOPs to scan whatever their keyframe shows


def _background(smalls: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The per-pixel median of a few of `smalls`, and the areas that change in most of them
    (a burnt-in clock, leaves)."""
    step = max(1, len(smalls) // BACKGROUND_SAMPLES)
    background = np.median(np.stack(smalls[::step][:BACKGROUND_SAMPLES]),
                           axis=0).astype(np.uint8)
    changes = np.zeros(background.shape, np.uint16)
    for small in smalls:
        changes += _changed(small, background) > 0
    busy = cv2.dilate((changes >= BUSY_SHARE * len(smalls)).astype(np.uint8),
                      np.ones((5, 5), np.uint8), iterations=2)
    return background, busy


def _motion_from_keyframes(job: _Analysis, src: Source) -> _Plan | None:
    """Every keyframe decoded, its luma at 1/SCALE; the background from a few of them."""
    frames: dict[int, Any | None] = {}
    smalls: dict[int, np.ndarray] = {}
    for g, index in enumerate(src.keys):
        frame = job.decode(index)
        if frame is not None:
            frames[g] = frame
            smalls[g] = _small(frame)
    if len(smalls) < 3:
        return None
    background, busy = _background(list(smalls.values()))
    first = next(iter(frames.values()))
    return _Plan(background, busy, (first.width, first.height), frames, smalls)


def _motion_from_guide(job: _Analysis, src: Source, guide: Sequence[tuple[Path, int]],
                       thorough: bool = False) -> _Plan | None:
    """Motion found on the sub-stream's keyframes (a 640x360 keyframe decodes ~10x faster
    than a 1080p one): its luma scaled to 1/SCALE of the main stream's frame is compared with
    its own background, and only the main keyframes around a change are kept, the one before
    it and the one after (a vehicle seen at a sub-stream keyframe is in view at one of them, or
    crosses between them and is found by the scan of that GOP). None when the sub-stream cannot
    guide (missing, too short): every main keyframe is decoded then. `thorough`: the
    sub-stream's other frames too (every SUB_STEP-th looked at); a change between keyframes
    has the main GOP it falls in scanned."""
    width, height = src.size
    target = (width // SCALE, height // SCALE)
    key_us = src.wall_us(job.start)
    gop_us = (key_us[-1] - key_us[0]) / max(1, len(key_us) - 1)
    lo, hi = key_us[0] - gop_us, key_us[-1] + 2 * gop_us
    probes: list[tuple[int, np.ndarray, bool]] = []  # UTC, luma at 1/SCALE, a keyframe
    for path, start_us in guide:
        try:
            sub = Source(path)
        except (OSError, av.FFmpegError, ValueError, IndexError):
            continue  # a damaged sub-stream file: it does not guide, nothing is lost
        try:
            for g, at in enumerate(sub.wall_us(start_us)):
                if not lo <= at < hi:
                    continue
                job.result.guide_keyframes_decoded += 1
                indexes = sub.gop(g) if thorough else (sub.keys[g],)
                for n, index in enumerate(indexes):
                    try:
                        frame = sub.decode(index)
                    except (av.FFmpegError, ValueError):
                        break  # damaged: the rest of the GOP, or the coverage check, decides
                    job.result.guide_frames_decoded += 1
                    if frame is None or n % SUB_STEP:
                        continue
                    luma = _planes(frame)[0]
                    small = cv2.resize(luma, target, interpolation=cv2.INTER_AREA)
                    probes.append((start_us + sub.us(index), cv2.GaussianBlur(small, (5, 5), 0),
                                   n == 0))
        finally:
            sub.close()
    keys = [(at, small) for at, small, key in probes if key]
    if len(keys) < 3 or keys[0][0] > key_us[0] + gop_us or keys[-1][0] < key_us[-1]:
        return None  # too few, or the sub-stream does not cover the segment: no guide
    background, busy = _background([small for _, small in keys])
    wanted: dict[int, Any | None] = {}
    scan: set[int] = set()
    for at, small, key in probes:
        if not regions(small, background, (width, height), busy):
            continue
        g = bisect.bisect_right(key_us, at) - 1  # the main keyframe at or before
        if key:
            wanted.update((k, None) for k in (g, g + 1) if 0 <= k < len(key_us))
        elif 0 <= g < len(key_us):
            scan.add(g)  # something moves between two keyframes: look at that GOP
    return _Plan(background, busy, (width, height), dict(sorted(wanted.items())), scan=scan)


def _read_vehicles(job: _Analysis, src: Source, plan: _Plan) -> None:
    background, busy, size = plan.background, plan.busy, plan.size
    # 1. read the vehicles seen well at a keyframe; note the GOPs to scan
    scan_after: dict[int, list[str]] = {}  # GOP -> edges where a vehicle is cut ("" = none)
    done: dict[int, list[tuple[int, int, int, int]]] = {}  # GOP -> boxes read confidently
    previous: list[tuple[tuple[int, int, int, int], float]] = []
    last_g = -2
    for g in list(plan.keyframes):
        frame = plan.keyframes.pop(g)
        small = plan.smalls.pop(g, None)
        if frame is None:
            frame = job.decode(src.keys[g])
            if frame is None:
                continue
        if small is None:
            small = _small(frame)
        if g != last_g + 1:
            previous = []  # a parked vehicle is only known from the keyframe just before
        last_g = g
        current = []
        for region in regions(small, background, size, busy):
            if region.readable:
                parked = next((s for b, s in previous
                               if _iou(b, region.box) >= SAME_PLACE_IOU), None)
                score = parked if parked is not None else job.read(frame, src.keys[g],
                                                                   region.box)
                current.append((region.box, score))
                if score >= CONFIDENT:
                    done.setdefault(g, []).append(region.box)
                    continue
            scan_after.setdefault(g, []).append(region.cut)
        previous = current

    # 2. the frames between keyframes, where a vehicle was caught badly
    scanned: set[int] = set()
    for g in sorted(set(scan_after) | plan.scan):
        edges = [e for e in scan_after.get(g, []) if e]
        if g not in scanned:
            scanned.add(g)
            went = job.scan(g, background, busy, done.setdefault(g, []),
                            leaving=edges[0] if edges and g > 0 else "")
            if went and g - 1 not in scanned:
                scanned.add(g - 1)
                job.scan(g - 1, background, busy, done.setdefault(g - 1, []))
