"""Machine-readable frame index burnt into every simulated clip, and its reader.

Responsibility: one place that defines where the frame index sits in a picture, the ffmpeg
``drawbox`` filters that draw it, and pure functions that read it back from RGB pixels (a
decoded PyAV frame, a browser canvas, a numpy array). Latency benchmarks compare the index a
viewer shows with the index the simulator is sending.

Layout (in the coordinates of the encoded picture, ``W`` = picture width in pixels):

- square side ``s = W // 80`` pixels: 24 px for the 1920x1080 main clip, 8 px for the
  640x360 sub clip;
- one row of ``3 + 12`` solid squares, top-left corner of the picture: square ``k`` covers
  ``x in [k*s, (k+1)*s)`` and ``y in [0, s)``;
- squares 0, 1, 2 are a fixed marker: white, black, white;
- square ``3 + i`` (i = 0..11) is white iff bit ``i`` of the frame number ``n`` is 1: least
  significant bit first, reading left to right. ``n`` counts frames from 0 at the start of
  the clip, so it wraps when the simulator loops the clip.

Invariants: the index has 12 bits, so a clip holds at most 4096 frames (``MAX_FRAMES``).
Readers sample the centre of each square and threshold luma at mid-grey, so the layout
survives lossy encoding and uniform scaling: a picture scaled to width ``w`` is read with
square side ``w / 80``. ``decode_*`` functions return ``None`` when the marker is not where it
should be, never a made-up index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

BITS = 12
MAX_FRAMES = 1 << BITS
MARKER = (True, False, True)
SQUARES = len(MARKER) + BITS
WIDTH_DIVISOR = 80
# Luma thresholds on 0..255: a square is white above _WHITE_MIN, black below _BLACK_MAX,
# a bit is 1 at or above _BIT_THRESHOLD. The marker must be clearly one or the other.
_WHITE_MIN = 160
_BLACK_MAX = 96
_BIT_THRESHOLD = 128

RgbGetter = Callable[[int, int], Sequence[int]]


def square_px(frame_width_px: int) -> int:
    """Side of one square, in pixels of a picture of the given width as encoded."""
    side = frame_width_px // WIDTH_DIVISOR
    if side < 2:
        raise ValueError(f"picture width {frame_width_px} px is too small for the frame index")
    return side


def drawbox_filters(frame_width_px: int) -> list[str]:
    """ffmpeg filter strings (to join with ``,``) that draw the index of frame ``n``."""
    s = square_px(frame_width_px)
    filters = [f"drawbox=x=0:y=0:w={SQUARES * s}:h={s}:color=black:t=fill"]
    for k, white in enumerate(MARKER):
        if white:
            filters.append(f"drawbox=x={k * s}:y=0:w={s}:h={s}:color=white:t=fill")
    for i in range(BITS):
        x = (len(MARKER) + i) * s
        filters.append(
            f"drawbox=x={x}:y=0:w={s}:h={s}:color=white:t=fill:enable='mod(floor(n/{1 << i}),2)'"
        )
    return filters


def expected_squares(frame_no: int) -> list[bool]:
    """The white/black pattern drawn for ``frame_no``: True is white. For tests and tools."""
    if not 0 <= frame_no < MAX_FRAMES:
        raise ValueError(f"frame number {frame_no} does not fit in {BITS} bits")
    return [*MARKER, *((frame_no >> i) & 1 == 1 for i in range(BITS))]


def _luma(rgb: Sequence[int]) -> float:
    return 0.299 * float(rgb[0]) + 0.587 * float(rgb[1]) + 0.114 * float(rgb[2])


def _square_luma(get_rgb: RgbGetter, side_px: float, k: int, width: int, height: int) -> float:
    """Mean luma of the central part of square ``k`` (half its side, at least one pixel)."""
    cx = (k + 0.5) * side_px
    cy = 0.5 * side_px
    half = max(side_px / 4.0, 0.5)
    x0, x1 = max(int(cx - half), 0), min(int(cx + half), width - 1)
    y0, y1 = max(int(cy - half), 0), min(int(cy + half), height - 1)
    total = 0.0
    count = 0
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            total += _luma(get_rgb(x, y))
            count += 1
    return total / count


def decode_frame_index(get_rgb: RgbGetter, width_px: int, height_px: int) -> int | None:
    """Frame index read from a picture given as a pixel getter ``get_rgb(x, y) -> (r, g, b)``.

    ``width_px``/``height_px`` are the picture's size as given (it may be scaled from the
    encoded size). Returns ``None`` when the marker is not found.
    """
    side = width_px / WIDTH_DIVISOR
    if side < 2 or height_px < side:
        return None
    lumas = [_square_luma(get_rgb, side, k, width_px, height_px) for k in range(SQUARES)]
    for luma, white in zip(lumas, MARKER, strict=False):
        if (white and luma < _WHITE_MIN) or (not white and luma > _BLACK_MAX):
            return None
    index = 0
    for i, luma in enumerate(lumas[len(MARKER) :]):
        if luma >= _BIT_THRESHOLD:
            index |= 1 << i
    return index


def decode_frame_index_rows(rows: Any) -> int | None:
    """Frame index from an ``H x W x 3`` image: a numpy array or nested sequences of RGB."""
    height = len(rows)
    width = len(rows[0]) if height else 0
    return decode_frame_index(lambda x, y: rows[y][x], width, height)


def decode_frame_index_bytes(
    data: bytes | bytearray | memoryview,
    width_px: int,
    height_px: int,
    channels: int = 3,
    stride_bytes: int | None = None,
) -> int | None:
    """Frame index from packed 8-bit pixels: RGB24 (``channels=3``) or RGBA (``channels=4``,
    e.g. a canvas ``ImageData``). ``stride_bytes`` defaults to ``width_px * channels``."""
    stride = stride_bytes if stride_bytes is not None else width_px * channels
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else data

    def get_rgb(x: int, y: int) -> Sequence[int]:
        offset = y * stride + x * channels
        return view[offset : offset + 3]

    return decode_frame_index(get_rgb, width_px, height_px)


def decode_av_frame(frame: Any) -> int | None:
    """Frame index of a decoded ``av.VideoFrame`` (any pixel format), without numpy."""
    rgb = frame.to_rgb() if frame.format.name != "rgb24" else frame
    plane = rgb.planes[0]
    return decode_frame_index_bytes(
        bytes(plane), rgb.width, rgb.height, channels=3, stride_bytes=plane.line_size
    )
