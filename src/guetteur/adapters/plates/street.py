"""The street of the synthetic videos: vehicles, their paths, and every frame drawn.

Responsibility: ``Street(size, fps, vehicles, seed, night).frame(n)`` draws frame ``n`` of a
video (BGR) and records where each plate was wholly visible; ``truths()`` gives the
``GroundTruth`` of every vehicle seen. ``synth.py`` plans vehicles and encodes the frames.

The scene: a fixed street (sky, buildings, road in perspective) with sensor noise that changes
every frame. A vehicle seen from behind (or the front) either crosses the picture from left to
right at a constant size (``lateral``) or comes towards the camera from the far end of the road,
growing until its characters reach ``char_height_px`` (``approach``), then leaves the picture.
Speed is physical: ``speed_kmh`` converted with the plate's scale (characters are 75 mm high);
a camera with a 60 degree horizontal field of view gives the perspective of ``approach``. Not
modelled: motion blur (use ``blur_sigma_px``), occlusion between vehicles, lighting.

Invariants:
- ``frame(n)`` depends only on the constructor's arguments and ``n`` (every random draw is
  seeded by them), so frames are the same whatever the order they are drawn in;
- frame ``n`` carries the frame index of ``simulator/frameindex.py`` (``n`` modulo 4096) unless
  ``frame_index=False``, so a reader of the RTSP stream can tie a picture to the ground truth;
- a vehicle is in ``truths()`` only if its plate was wholly inside a drawn frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from guetteur.adapters.plates import platedraw
from guetteur.adapters.plates.platedraw import compact
from guetteur.adapters.simulator import frameindex

MOTIONS = ("lateral", "approach")
HFOV_DEG = 60.0
APPROACH_START = 3.0  # appears at 3x the distance where it reaches its character height
HORIZON = 0.35  # of the picture height
GROUND = 0.93  # where the wheels of a lateral vehicle (and a near approaching one) touch
PLATE_CENTRE_ABOVE_GROUND_MM = (
    platedraw.VEHICLE_MM[1] - platedraw.PLATE_TOP_MM - platedraw.PLATE_MM[1] / 2
)
NOISE_FRAMES = 4


@dataclass(frozen=True)
class VehicleSpec:
    """One vehicle to draw. ``lane``: horizontal offset of an approaching vehicle when nearest,
    as a fraction of the picture width (ignored by ``lateral``)."""

    enter_s: float
    text: str
    fmt: str
    style: str
    motion: str = "lateral"
    char_height_px: float = 30.0
    angle_deg: float = 0.0
    shear_deg: float = 0.0
    blur_sigma_px: float = 0.0
    contrast: float = 1.0
    speed_kmh: float = 15.0
    lane: float = 0.0
    colour_seed: int = 0


@dataclass(frozen=True)
class GroundTruth:
    """What a perfect reader finds for one vehicle. Frames count from 0 at the start of the
    video; ``first_frame``..``last_frame``: the plate is wholly inside the picture;
    ``appear_frame``..``leave_frame``: some of the vehicle is. Character heights are those of
    the plate while wholly visible (equal for ``lateral``)."""

    text: str
    fmt: str
    style: str
    motion: str
    first_frame: int
    last_frame: int
    appear_frame: int
    leave_frame: int
    char_height_px: float
    char_height_min_px: float
    blur_sigma_px: float
    contrast: float
    night: bool
    angle_deg: float
    shear_deg: float
    speed_kmh: float

    @property
    def compact(self) -> str:
        return compact(self.text)


# ------------------------------------------------------------------------ drawing a vehicle


@dataclass(frozen=True)
class _Sprite:
    img: np.ndarray
    alpha: np.ndarray
    plate: np.ndarray  # 4 x 2 corners of the plate in the sprite, clockwise from top left

    @property
    def plate_centre(self) -> np.ndarray:
        return self.plate.mean(axis=0)


@dataclass(frozen=True)
class Placement:
    frame: int
    centre: tuple[float, float]  # where the plate's centre is, in the picture
    scale: float  # of the sprite


def _sprite(spec: VehicleSpec, night: bool) -> _Sprite:
    """The vehicle at its largest, tilted, toned; blurred later (after any scaling)."""
    rng = np.random.default_rng(spec.colour_seed)
    plate = platedraw.draw_plate(spec.text, spec.style, spec.char_height_px)
    img, alpha, (px, py) = platedraw.draw_vehicle(plate, spec.char_height_px, rng)
    ph, pw = plate.shape[:2]
    quad = np.array([[px, py], [px + pw, py], [px + pw, py + ph], [px, py + ph]], np.float64)
    if spec.angle_deg or spec.shear_deg:
        pad = img.shape[1] // 6
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        alpha = cv2.copyMakeBorder(alpha, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        quad += pad
        centre = quad.mean(axis=0)
        matrix = platedraw.warp_matrix(spec.angle_deg, spec.shear_deg, (centre[0], centre[1]))
        size = (img.shape[1], img.shape[0])
        img = cv2.warpAffine(img, matrix, size, flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(alpha, matrix, size, flags=cv2.INTER_LINEAR)
        quad = quad @ matrix[:, :2].T + matrix[:, 2]
    img = platedraw.adjust_contrast(img, spec.contrast)
    if night:
        img = platedraw.night_tone(img)
    return _Sprite(img, alpha, quad)


def placements(spec: VehicleSpec, size: tuple[int, int], fps: int) -> list[Placement]:
    """Where the vehicle is in every frame where some of it may be visible."""
    if spec.motion not in MOTIONS:
        raise ValueError(f"unknown motion {spec.motion!r}: use one of {MOTIONS}")
    width, height = size
    k = spec.char_height_px / platedraw.CHAR_MM  # px per mm when nearest
    speed_mm_s = spec.speed_kmh / 3.6 * 1000.0
    start = round(spec.enter_s * fps)
    vehicle_w = platedraw.VEHICLE_MM[0] * k * 1.4  # with the margin of a tilted sprite
    plate_half_h = platedraw.PLATE_MM[1] * k / 2
    ground = GROUND * height
    out = []
    if spec.motion == "lateral":
        cy = ground - PLATE_CENTRE_ABOVE_GROUND_MM * k
        if cy - plate_half_h < 0:
            raise ValueError(
                f"characters of {spec.char_height_px} px do not fit a "
                f"{width}x{height} picture crossed sideways"
            )
        n = 0
        while True:
            cx = -vehicle_w / 2 + speed_mm_s * k * n / fps
            if cx - vehicle_w / 2 > width:
                return out
            out.append(Placement(start + n, (cx, cy), 1.0))
            n += 1
    focal_px = width / (2 * math.tan(math.radians(HFOV_DEG / 2)))
    nearest_mm = focal_px * platedraw.CHAR_MM / spec.char_height_px
    horizon = HORIZON * height
    n = 0
    while True:
        distance = APPROACH_START * nearest_mm - speed_mm_s * n / fps
        if distance < nearest_mm:
            return out
        ratio = nearest_mm / distance
        cy = horizon + (ground - horizon) * ratio - PLATE_CENTRE_ABOVE_GROUND_MM * k * ratio
        cx = width / 2 + spec.lane * width * ratio
        out.append(Placement(start + n, (cx, cy), ratio))
        n += 1


def _paste(frame: np.ndarray, img: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend ``img`` at (x, y), clipped to the frame."""
    fh, fw = frame.shape[:2]
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, fw), min(y + h, fh)
    if x0 >= x1 or y0 >= y1:
        return
    a = (alpha[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32) / 255.0)[..., None]
    roi = frame[y0:y1, x0:x1]
    roi[:] = (roi * (1.0 - a) + img[y0 - y : y1 - y, x0 - x : x1 - x] * a).astype(np.uint8)


class _Track:
    """One vehicle being drawn: its sprite, its placements and what the ground truth needs."""

    def __init__(self, spec: VehicleSpec, size: tuple[int, int], fps: int, night: bool) -> None:
        self.spec = spec
        self.sprite = _sprite(spec, night)
        self.placements = {p.frame: p for p in placements(spec, size, fps)}
        self.visible: dict[int, float] = {}  # frame -> char height, plate wholly inside
        self.drawn: set[int] = set()  # frames where some of the vehicle is
        self._blurred: tuple[np.ndarray, np.ndarray] | None = None

    def draw(self, frame: np.ndarray, frame_no: int) -> None:
        placement = self.placements.get(frame_no)
        if placement is None:
            return
        sprite, s = self.sprite, placement.scale
        if s == 1.0:
            if self._blurred is None:  # a lateral vehicle keeps its size: blur it once
                self._blurred = (
                    platedraw.gaussian_blur(sprite.img, self.spec.blur_sigma_px),
                    platedraw.gaussian_blur(sprite.alpha, self.spec.blur_sigma_px),
                )
            img, alpha = self._blurred
        else:
            dsize = (max(1, round(sprite.img.shape[1] * s)), max(1, round(sprite.img.shape[0] * s)))
            img = cv2.resize(sprite.img, dsize, interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(sprite.alpha, dsize, interpolation=cv2.INTER_AREA)
            img = platedraw.gaussian_blur(img, self.spec.blur_sigma_px)
            alpha = platedraw.gaussian_blur(alpha, self.spec.blur_sigma_px)
        origin = np.array(placement.centre) - sprite.plate_centre * s
        x, y = round(origin[0]), round(origin[1])
        fh, fw = frame.shape[:2]
        if x < fw and y < fh and x + img.shape[1] > 0 and y + img.shape[0] > 0:
            self.drawn.add(frame_no)
        _paste(frame, img, alpha, x, y)
        quad = sprite.plate * s + (x, y)
        if quad.min() >= 0 and (quad[:, 0] <= fw - 1).all() and (quad[:, 1] <= fh - 1).all():
            self.visible[frame_no] = self.spec.char_height_px * s

    def truth(self, night: bool) -> GroundTruth | None:
        if not self.visible:
            return None
        heights = list(self.visible.values())
        sp = self.spec
        return GroundTruth(
            text=sp.text, fmt=sp.fmt, style=sp.style, motion=sp.motion,
            first_frame=min(self.visible), last_frame=max(self.visible),
            appear_frame=min(self.drawn), leave_frame=max(self.drawn),
            char_height_px=round(max(heights), 1), char_height_min_px=round(min(heights), 1),
            blur_sigma_px=sp.blur_sigma_px, contrast=sp.contrast, night=night,
            angle_deg=sp.angle_deg, shear_deg=sp.shear_deg, speed_kmh=sp.speed_kmh,
        )  # fmt: skip


# ------------------------------------------------------------------------------ the street


def street_background(width: int, height: int, seed: int, night: bool) -> np.ndarray:
    """The fixed part of the picture: sky, buildings, road in perspective, sidewalks."""
    rng = np.random.default_rng([seed, 1])
    horizon = round(HORIZON * height)
    img = np.zeros((height, width, 3), np.uint8)
    sky = np.linspace(0, 1, horizon, dtype=np.float32)[:, None]
    img[:horizon] = (
        np.float32([235, 205, 170]) * (1 - sky) + np.float32([245, 235, 225]) * sky
    ).astype(np.uint8)[:, None, :]
    img[horizon:] = (150, 152, 155)  # sidewalk
    x = 0
    while x < width:  # buildings along the horizon
        bw = int(rng.integers(width // 14, width // 6))
        top = horizon - int(rng.integers(height // 12, height // 3))
        colour = tuple(int(c) for c in rng.integers(120, 215, 3))
        cv2.rectangle(img, (x, top), (x + bw, horizon), colour, -1)
        step = max(6, height // 40)
        for wy in range(top + step, horizon - step, 2 * step):
            for wx in range(x + step, x + bw - step, 2 * step):
                cv2.rectangle(img, (wx, wy), (wx + step, wy + step), (90, 80, 70), -1)
        x += bw + int(rng.integers(0, width // 40))
    road = np.array(
        [
            [width * 0.44, horizon],
            [width * 0.56, horizon],
            [width * 1.25, height],
            [-width * 0.25, height],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [road], (92, 92, 96), cv2.LINE_AA)
    for i in range(12):  # dashed centre line, in perspective
        t0, t1 = (i / 12) ** 2, ((i + 0.5) / 12) ** 2
        y0, y1 = horizon + (height - horizon) * t0, horizon + (height - horizon) * t1
        half0, half1 = 1 + width * 0.004 * t0, 1 + width * 0.004 * t1
        dash = np.array(
            [
                [width / 2 - half0, y0],
                [width / 2 + half0, y0],
                [width / 2 + half1, y1],
                [width / 2 - half1, y1],
            ],
            np.int32,
        )
        cv2.fillPoly(img, [dash], (225, 225, 225), cv2.LINE_AA)
    texture = rng.normal(0, 5, (height, width)).astype(np.float32)[..., None]
    img = np.clip(img + texture, 0, 255).astype(np.uint8)
    return platedraw.night_tone(img) if night else img


def _noise_bank(size: tuple[int, int], seed: int, night: bool) -> list[tuple[np.ndarray, ...]]:
    """A few frames of sensor noise as (positive, negative) uint8 parts, for saturated adds."""
    rng = np.random.default_rng([seed, 2])
    sigma = platedraw.NIGHT_NOISE_SIGMA if night else platedraw.DAY_NOISE_SIGMA
    bank = []
    for _ in range(NOISE_FRAMES):
        noise = rng.normal(0, sigma, (size[1], size[0], 1)).astype(np.float32)
        noise = np.repeat(noise, 3, axis=2)
        bank.append(
            (np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8))
        )
    return bank


def draw_frame_index(frame: np.ndarray, frame_no: int) -> None:
    side = frameindex.square_px(frame.shape[1])
    for k, white in enumerate(frameindex.expected_squares(frame_no % frameindex.MAX_FRAMES)):
        frame[:side, k * side : (k + 1) * side] = 255 if white else 0


class Street:
    """The frames of one synthetic video and the ground truth of the vehicles drawn."""

    def __init__(
        self,
        size: tuple[int, int],
        fps: int,
        vehicles: Sequence[VehicleSpec],
        seed: int,
        night: bool = False,
        frame_index: bool = True,
    ) -> None:
        self.size, self.fps, self.seed, self.night = size, fps, seed, night
        self.frame_index = frame_index
        self._tracks = [_Track(v, size, fps, night) for v in vehicles]
        self._background = street_background(size[0], size[1], seed, night)
        self._bank = _noise_bank(size, seed, night)

    def frame(self, n: int) -> np.ndarray:
        """Frame ``n`` (BGR, H x W x 3)."""
        frame = self._background.copy()
        for track in self._tracks:
            track.draw(frame, n)
        pos, neg = self._bank[
            int(np.random.default_rng([self.seed, 3, n]).integers(0, len(self._bank)))
        ]
        cv2.add(frame, pos, dst=frame)
        cv2.subtract(frame, neg, dst=frame)
        if self.frame_index:
            draw_frame_index(frame, n)
        return frame

    def truths(self) -> list[GroundTruth]:
        """Vehicles whose plate was wholly visible in a drawn frame, in the order given."""
        return [t for t in (track.truth(self.night) for track in self._tracks) if t is not None]
