"""Drawing of synthetic French number plates and vehicles, for tests and benchmarks.

Responsibility: random plate texts in the two French formats, the picture of a plate at a given
character height, a vehicle (rear or front view) carrying it, and the camera's degradations
(blur, low contrast, night). ``synth.py`` composes these into videos; ``render_plate_image``
gives one vehicle crop for the accuracy benchmark.

Formats drawn (dimensions of the real 520 x 110 mm plate, characters 75 mm high):
- ``SIV`` (since 2009) ``AB-123-CD``: black on white, blue EU band with « F » on the left, blue
  department band on the right;
- ``FNI`` (before 2009) ``123 ABC 45``: black on white (front), black on yellow (rear) or white
  on black (old style), no band.

Invariants:
- everything is deterministic for a given seed (``numpy.random.Generator``), on one machine;
- ``char_height_px`` is the height of the characters' ink in the output picture before any
  rotation or shear (the measure FIELD-NOTES.md uses: >= 25 px for hard cases);
- the font is DejaVu Sans Condensed Bold when the system has it, else Pillow's bundled font
  (made bold with a stroke), else an OpenCV Hershey font: no file is ever required, only the
  pixels change (``font_name()`` says which one was used). Texts and ground truth never depend
  on the font.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

SIV = "SIV"
FNI = "FNI"
FORMATS = (SIV, FNI)
# Styles: (format, background BGR, ink BGR).
STYLES: dict[str, tuple[str, tuple[int, int, int], tuple[int, int, int]]] = {
    "siv": (SIV, (242, 242, 242), (20, 20, 20)),
    "fni-front": (FNI, (238, 240, 240), (20, 20, 20)),
    "fni-rear": (FNI, (20, 200, 250), (20, 20, 20)),
    "fni-old": (FNI, (25, 25, 25), (215, 215, 215)),
}
LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"  # I, O and U are never issued
DEPARTMENTS = [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B", "971", "974"]
PLATE_MM = (520, 110)
CHAR_MM = 75
BAND_MM = 42  # SIV blue bands
EU_BLUE = (153, 51, 0)  # BGR
VEHICLE_MM = (1800, 1450)  # width, height of the vehicle seen from behind or the front
PLATE_TOP_MM = 880  # plate top, from the top of the vehicle picture
_HI_PX_PER_MM = 3.0  # plates are drawn at this scale, then scaled down (anti-aliasing)
_FONT_FILES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
)


def compact(text: str) -> str:
    """Uppercase ASCII letters and digits only: ``"ab-123 cd"`` -> ``"AB123CD"``."""
    return "".join(c for c in text.upper() if c.isascii() and c.isalnum())


def random_text(fmt: str, rng: np.random.Generator) -> str:
    """A plausible plate in display form: ``AB-123-CD`` (SIV) or ``123 ABC 45`` (FNI)."""

    def letters(n: int) -> str:
        return "".join(LETTERS[int(i)] for i in rng.integers(0, len(LETTERS), n))

    if fmt == SIV:
        return f"{letters(2)}-{int(rng.integers(1, 1000)):03d}-{letters(2)}"
    if fmt == FNI:
        digits = str(int(rng.integers(1, 10 ** int(rng.integers(1, 5)))))
        dept = DEPARTMENTS[int(rng.integers(0, len(DEPARTMENTS)))]
        return f"{digits} {letters(int(rng.choice([2, 3])))} {dept}"
    raise ValueError(f"unknown plate format {fmt!r}: use one of {FORMATS}")


def random_style(fmt: str, rng: np.random.Generator) -> str:
    if fmt == SIV:
        return "siv"
    return str(rng.choice(["fni-front", "fni-rear", "fni-old"]))


# ----------------------------------------------------------------------------------- font


@functools.lru_cache(maxsize=1)
def _font_choice() -> tuple[str, str | None]:
    """(name, path or "" for Pillow's default, or None for Hershey)."""
    try:
        from PIL import ImageFont, features

        if features.check("freetype2"):
            for path in _FONT_FILES:
                if path.is_file():
                    return path.stem, str(path)
            ImageFont.load_default(size=20)  # Pillow >= 10.1 with its bundled font
            return "Pillow default (Aileron) + stroke", ""
    except (ImportError, OSError, TypeError):
        pass
    return "OpenCV Hershey duplex", None


def font_name() -> str:
    """Which font draws the characters on this machine."""
    return _font_choice()[0]


@functools.lru_cache(maxsize=64)
def _text_mask(text: str, cap_px: int) -> np.ndarray:
    """Ink of ``text`` (uint8 0/255), cropped to the ink, ``cap_px`` rows high."""
    path = _font_choice()[1]
    if path is None:
        scale = cap_px / 22.0
        thick = max(2, round(cap_px / 7))
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thick)
        canvas = np.zeros((h * 2, w + 4 * thick), np.uint8)
        cv2.putText(
            canvas,
            text,
            (2 * thick, int(h * 1.5)),
            cv2.FONT_HERSHEY_DUPLEX,
            scale,
            255,
            thick,
            cv2.LINE_AA,
        )
    else:
        from PIL import Image, ImageDraw, ImageFont

        size = cap_px * 2
        font = ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)
        stroke = 0 if path else max(1, size // 18)
        left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
        image = Image.new("L", (right - left + 8, bottom - top + 8), 0)
        ImageDraw.Draw(image).text(
            (4 - left, 4 - top), text, font=font, fill=255, stroke_width=stroke, stroke_fill=255
        )
        canvas = np.asarray(image)
    ys, xs = np.nonzero(canvas > 127)
    ink = canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    width = max(1, round(ink.shape[1] * cap_px / ink.shape[0]))
    return cv2.resize(ink, (width, cap_px), interpolation=cv2.INTER_AREA)


# ----------------------------------------------------------------------------------- plate


def _paste_ink(img: np.ndarray, mask: np.ndarray, x: int, y: int, color: Sequence[int]) -> None:
    h, w = mask.shape
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    region = img[y : y + h, x : x + w].astype(np.float32)
    img[y : y + h, x : x + w] = (region * (1 - alpha) + np.float32(color) * alpha).astype(np.uint8)


def draw_plate(text: str, style: str, char_height_px: float) -> np.ndarray:
    """The plate alone (BGR), scaled so its characters are ``char_height_px`` high."""
    fmt, background, ink = STYLES[style]
    k = _HI_PX_PER_MM
    pw, ph = round(PLATE_MM[0] * k), round(PLATE_MM[1] * k)
    img = np.full((ph, pw, 3), background, np.uint8)
    cap = round(CHAR_MM * k)
    x0, x1 = round(12 * k), pw - round(12 * k)
    if fmt == SIV:
        band = round(BAND_MM * k)
        img[:, :band] = EU_BLUE
        img[:, pw - band :] = EU_BLUE
        centre, radius = (band // 2, round(30 * k)), round(13 * k)
        for i in range(12):  # the ring of stars, as dots
            a = 2 * np.pi * i / 12
            cv2.circle(
                img,
                (round(centre[0] + radius * np.cos(a)), round(centre[1] + radius * np.sin(a))),
                max(1, round(2 * k)),
                (0, 204, 255),
                -1,
                cv2.LINE_AA,
            )
        letter = _text_mask("F", round(22 * k))
        _paste_ink(img, letter, (band - letter.shape[1]) // 2, round(62 * k), (255, 255, 255))
        cv2.circle(img, (pw - band // 2, round(30 * k)), round(12 * k), (255, 255, 255), -1)
        dept = _text_mask(text_dept(text), round(20 * k))
        dw = min(dept.shape[1], band - round(6 * k))
        dept = cv2.resize(dept, (dw, dept.shape[0]), interpolation=cv2.INTER_AREA)
        _paste_ink(img, dept, pw - band + (band - dw) // 2, round(64 * k), (255, 255, 255))
        x0, x1 = band + round(10 * k), pw - band - round(10 * k)
    mask = _text_mask(text, cap)
    if mask.shape[1] > x1 - x0:  # plate fonts are condensed: squeeze to fit
        mask = cv2.resize(mask, (x1 - x0, cap), interpolation=cv2.INTER_AREA)
    _paste_ink(img, mask, x0 + (x1 - x0 - mask.shape[1]) // 2, (ph - cap) // 2, ink)
    cv2.rectangle(img, (0, 0), (pw - 1, ph - 1), (30, 30, 30), max(1, round(1.5 * k)))
    scale = char_height_px / cap
    size = (max(2, round(pw * scale)), max(2, round(ph * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def text_dept(text: str) -> str:
    """The department shown on the right band: any plausible one, from the text's letters."""
    return DEPARTMENTS[sum(map(ord, text)) % len(DEPARTMENTS)][:2]


# --------------------------------------------------------------------------------- vehicle


def draw_vehicle(
    plate: np.ndarray, char_height_px: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """A vehicle seen from behind (or the front) carrying ``plate``, at the plate's scale.

    Returns (BGR picture, alpha mask 0..255, plate top-left corner in the picture)."""
    k = char_height_px / CHAR_MM  # px per mm
    w, h = round(VEHICLE_MM[0] * k), round(VEHICLE_MM[1] * k)

    def p(x_mm: float, y_mm: float) -> tuple[int, int]:
        return round(x_mm * k), round(y_mm * k)

    img = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    body = tuple(int(c) for c in rng.integers(30, 230, 3))
    dark = (35, 35, 38)
    wheel_w = 230
    for x in (90, VEHICLE_MM[0] - 90 - wheel_w):  # wheels
        cv2.rectangle(img, p(x, 1150), p(x + wheel_w, VEHICLE_MM[1]), dark, -1)
        cv2.rectangle(alpha, p(x, 1150), p(x + wheel_w, VEHICLE_MM[1]), 255, -1)
    roof = np.array([p(330, 0), p(1470, 0), p(1640, 520), p(160, 520)], np.int32)
    cv2.fillPoly(img, [roof], body, cv2.LINE_AA)
    cv2.fillPoly(alpha, [roof], 255, cv2.LINE_AA)
    glass = np.array([p(380, 60), p(1420, 60), p(1560, 480), p(240, 480)], np.int32)
    cv2.fillPoly(img, [glass], (70, 55, 45), cv2.LINE_AA)
    cv2.rectangle(img, p(0, 500), p(VEHICLE_MM[0], 1200), body, -1)
    cv2.rectangle(alpha, p(0, 500), p(VEHICLE_MM[0], 1200), 255, -1)
    for x in (60, VEHICLE_MM[0] - 380):  # lights
        cv2.rectangle(img, p(x, 600), p(x + 320, 740), (40, 40, 190), -1)
    cv2.rectangle(
        img, p(0, 1080), p(VEHICLE_MM[0], 1200), tuple(int(c * 0.6) for c in body), -1
    )  # bumper
    shade = rng.normal(0, 4, img.shape[:2]).astype(np.float32)[..., None]
    img = np.clip(img.astype(np.float32) + shade, 0, 255).astype(np.uint8)
    ph, pw = plate.shape[:2]
    x, y = (w - pw) // 2, round(PLATE_TOP_MM * k)
    img[y : y + ph, x : x + pw] = plate
    return img, alpha, (x, y)


# ------------------------------------------------------------------------------ degradation


def warp_matrix(angle_deg: float, shear_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """2x3 affine: in-plane rotation by ``angle_deg`` then horizontal shear, about ``centre``
    (a plate seen slightly from the side or from a tilted camera)."""
    rot = cv2.getRotationMatrix2D(centre, angle_deg, 1.0)
    shear = np.array([[1.0, np.tan(np.radians(shear_deg)), 0.0], [0.0, 1.0, 0.0]])
    shear[0, 2] = -shear[0, 1] * centre[1]
    full = np.vstack([rot, [0, 0, 1]]) @ np.vstack([shear, [0, 0, 1]])
    return full[:2]


def adjust_contrast(img: np.ndarray, contrast: float, haze: float = 150.0) -> np.ndarray:
    """``contrast`` < 1 pulls every pixel towards a haze level (fog, dirt, glare)."""
    if contrast == 1.0:
        return img
    out = img.astype(np.float32) * contrast + haze * (1.0 - contrast)
    return np.clip(out, 0, 255).astype(np.uint8)


def gaussian_blur(img: np.ndarray, sigma_px: float) -> np.ndarray:
    if sigma_px <= 0:
        return img
    return cv2.GaussianBlur(img, (0, 0), sigma_px)


NIGHT_NOISE_SIGMA = 7.0
DAY_NOISE_SIGMA = 2.5


def night_tone(img: np.ndarray) -> np.ndarray:
    """Dark picture with a blue cast (the tone of a street camera at night, before noise)."""
    out = (img.astype(np.float32) / 255.0) ** 1.4 * 255.0 * np.float32([0.42, 0.33, 0.30])
    return np.clip(out, 0, 255).astype(np.uint8)


def night_view(
    img: np.ndarray, rng: np.random.Generator, noise_sigma: float = NIGHT_NOISE_SIGMA
) -> np.ndarray:
    """``night_tone`` plus strong sensor noise, mostly in luma."""
    out = night_tone(img).astype(np.float32)
    out += rng.normal(0, noise_sigma, img.shape[:2]).astype(np.float32)[..., None]
    out += rng.normal(0, noise_sigma / 2, img.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def sensor_noise(
    img: np.ndarray, rng: np.random.Generator, sigma: float = DAY_NOISE_SIGMA
) -> np.ndarray:
    out = img.astype(np.float32) + rng.normal(0, sigma, img.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def road_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Asphalt with texture: the ground behind a vehicle crop."""
    grey = rng.integers(70, 110)
    img = np.full((height, width, 3), grey, np.float32)
    img += rng.normal(0, 6, (height, width)).astype(np.float32)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------- crops


def render_plate_image(
    text: str,
    fmt: str,
    char_height_px: float = 30.0,
    angle_deg: float = 0.0,
    blur: float = 0.0,
    contrast: float = 1.0,
    night: bool = False,
    seed: int = 0,
    *,
    shear_deg: float = 0.0,
    style: str | None = None,
    jpeg_quality: int | None = None,
) -> np.ndarray:
    """A vehicle-sized crop (BGR, about 2.9 x 1.3 plate widths, e.g. ~600 x 270 at 30 px
    characters) with the plate near its centre, degraded as asked: ``blur`` is the Gaussian
    sigma in pixels, ``contrast`` 1.0 is normal (0.4 is low), ``night`` darkens and adds
    sensor noise; ``jpeg_quality`` (e.g. 60) adds compression artefacts, as a stand-in for
    those of a camera's H.264 stream."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown plate format {fmt!r}: use one of {FORMATS}")
    rng = np.random.default_rng(seed)
    style = style or random_style(fmt, rng)
    if STYLES[style][0] != fmt:
        raise ValueError(f"style {style!r} is not a {fmt} style")
    plate = draw_plate(text, style, char_height_px)
    vehicle, alpha, (px, py) = draw_vehicle(plate, char_height_px, rng)
    pw = plate.shape[1]
    cw, ch = round(pw * 2.9), round(pw * 1.3)
    # A canvas larger than the crop, so rotating leaves no empty corner inside the crop.
    big_w, big_h = max(cw * 2, vehicle.shape[1] + 2), max(ch * 3, vehicle.shape[0] + 2)
    canvas = road_background(big_w, big_h, rng)
    vx = big_w // 2 - (px + pw // 2) + int(rng.integers(-pw // 10, pw // 10 + 1))
    vy = big_h // 2 - py - plate.shape[0] // 2 + int(rng.integers(-ch // 10, ch // 10 + 1))
    a = (alpha.astype(np.float32) / 255.0)[..., None]
    region = canvas[vy : vy + vehicle.shape[0], vx : vx + vehicle.shape[1]]
    region[:] = (region * (1 - a) + vehicle * a).astype(np.uint8)
    centre = (vx + px + pw / 2, vy + py + plate.shape[0] / 2)
    if angle_deg or shear_deg:
        matrix = warp_matrix(angle_deg, shear_deg, centre)
        canvas = cv2.warpAffine(
            canvas, matrix, (big_w, big_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
    x0, y0 = round(big_w / 2 - cw / 2), round(big_h / 2 - ch / 2)
    crop = canvas[y0 : y0 + ch, x0 : x0 + cw]
    out = degrade(crop, blur, contrast, night, rng)
    if jpeg_quality is not None:
        data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])[1]
        out = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return out


def degrade(
    img: np.ndarray,
    blur_sigma_px: float,
    contrast: float,
    night_mode: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    """The camera's view of ``img``: contrast, then optics blur, then the sensor."""
    out = gaussian_blur(adjust_contrast(img, contrast), blur_sigma_px)
    return night_view(out, rng) if night_mode else sensor_noise(out, rng)
