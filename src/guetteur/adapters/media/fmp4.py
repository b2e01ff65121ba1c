"""Reading fragmented MP4 (ISO BMFF) files as the recorder writes them, without decoding.

A recorder file is `ftyp` + `moov` (the *init*, with no samples: `empty_moov`) followed by
`moof` + `mdat` pairs (*fragments*, ~200 ms each, a new one at every keyframe). This module finds
box boundaries, tells whether a fragment starts with a keyframe, measures durations and builds
the MSE codec string. It never trusts a box that runs past the end of the data: a file being
written, or cut by a crash, ends with an incomplete box that is ignored (or cut off on repair).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HEADER = struct.Struct(">I4s")


@dataclass(frozen=True)
class Box:
    kind: bytes
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size


def iter_boxes(data: bytes | memoryview, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """Complete boxes laid end to end in data[start:end]; stops at the first incomplete one."""
    limit = len(data) if end is None else end
    pos = start
    while pos + 8 <= limit:
        size, kind = _HEADER.unpack_from(data, pos)
        header = 8
        if size == 1:
            if pos + 16 > limit:
                return
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            return  # "to end of file": only used by a box still being written
        if size < header or pos + size > limit:
            return
        yield Box(bytes(kind), pos, size)
        pos += size


def _child(data: bytes, parent: Box, kind: bytes, skip: int = 8) -> Box | None:
    for box in iter_boxes(data, parent.start + skip, parent.end):
        if box.kind == kind:
            return box
    return None


@dataclass(frozen=True)
class Fragment:
    """One moof+mdat pair."""

    start: int
    end: int
    base_decode_time: int
    duration_ticks: int
    sample_count: int
    keyframe: bool


@dataclass(frozen=True)
class FragmentDefaults:
    """What a `tfhd` box says (None where it says nothing)."""

    base_data_offset: int | None = None
    default_duration: int | None = None
    default_size: int | None = None
    default_flags: int | None = None


def parse_tfhd(data: Any, tfhd: Box) -> FragmentDefaults:
    flags = int.from_bytes(data[tfhd.start + 9:tfhd.start + 12], "big")
    pos = tfhd.start + 16  # header, version/flags, track id
    values: list[int | None] = []
    for bit, size in ((0x01, 8), (0x02, 4), (0x08, 4), (0x10, 4), (0x20, 4)):
        if flags & bit:
            values.append(struct.unpack_from(">Q" if size == 8 else ">I", data, pos)[0])
            pos += size
        else:
            values.append(None)
    offset, _description, duration, size_, sample_flags = values
    return FragmentDefaults(offset, duration, size_, sample_flags)


def parse_tfdt(data: Any, tfdt: Box) -> int:
    """The fragment's base media decode time."""
    fmt = ">Q" if data[tfdt.start + 8] == 1 else ">I"
    return int(struct.unpack_from(fmt, data, tfdt.start + 12)[0])


def parse_moof(data: bytes, moof: Box, default_duration: int = 0) -> tuple[int, int, int, bool]:
    """(base decode time, total duration in ticks, sample count, starts with a keyframe)."""
    traf = _child(data, moof, b"traf")
    if traf is None:
        return 0, 0, 0, False
    tfhd = _child(data, traf, b"tfhd")
    tfdt = _child(data, traf, b"tfdt")
    trun = _child(data, traf, b"trun")
    default_flags = None
    if tfhd is not None:
        defaults = parse_tfhd(data, tfhd)
        if defaults.default_duration is not None:
            default_duration = defaults.default_duration
        default_flags = defaults.default_flags
    base = parse_tfdt(data, tfdt) if tfdt is not None else 0
    if trun is None:
        return base, 0, 0, False
    flags = int.from_bytes(data[trun.start + 9:trun.start + 12], "big")
    count = struct.unpack_from(">I", data, trun.start + 12)[0]
    pos = trun.start + 16
    if flags & 0x01:
        pos += 4
    first_flags = None
    if flags & 0x04:
        first_flags = struct.unpack_from(">I", data, pos)[0]
        pos += 4
    per_sample = 4 * bin(flags & 0xF00).count("1")
    duration = 0
    for i in range(count):
        field = pos + i * per_sample
        sample_duration = default_duration
        if flags & 0x100:
            sample_duration = struct.unpack_from(">I", data, field)[0]
            field += 4
        if flags & 0x200:
            field += 4
        if i == 0 and first_flags is None and flags & 0x400:
            first_flags = struct.unpack_from(">I", data, field)[0]
        duration += sample_duration
    sync_flags = first_flags if first_flags is not None else default_flags
    keyframe = sync_flags is not None and not (sync_flags >> 16) & 1
    return base, duration, count, keyframe


@dataclass(frozen=True)
class Init:
    size: int
    timescale: int
    codec: str
    width: int
    height: int


def parse_init(data: bytes) -> Init | None:
    """The init (ftyp + moov) at the start of data, or None if not complete yet."""
    boxes = list(iter_boxes(data))
    moov = next((b for b in boxes if b.kind == b"moov"), None)
    if moov is None:
        return None
    init = data[:moov.end]
    timescale = 90_000
    mdhd = init.find(b"mdhd")
    if mdhd > 0:
        version = init[mdhd + 4]
        offset = mdhd + 4 + 4 + (16 if version == 1 else 8)
        timescale = struct.unpack_from(">I", init, offset)[0]
    codec, width, height = "avc1.640028", 0, 0
    for entry in (b"avc1", b"avc3", b"hvc1", b"hev1"):
        at = init.find(entry)
        if at > 0:
            # VisualSampleEntry: 6 reserved + 2 dref + 16 pre-defined, then width and height.
            width, height = struct.unpack_from(">HH", init, at + 4 + 24)
            break
    avcc = init.find(b"avcC")
    if avcc > 0:
        profile, compat, level = init[avcc + 5], init[avcc + 6], init[avcc + 7]
        codec = f"avc1.{profile:02x}{compat:02x}{level:02x}"
    elif init.find(b"hvcC") > 0:
        codec = "hvc1.1.6.L120.90"
    return Init(moov.end, timescale, codec, width, height)


def iter_fragments(data: bytes, start: int) -> Iterator[Fragment]:
    """Complete moof+mdat pairs from `start`; stops before an incomplete one."""
    boxes = iter_boxes(data, start)
    for box in boxes:
        if box.kind != b"moof":
            continue
        mdat = next(boxes, None)
        if mdat is None or mdat.kind != b"mdat":
            return
        base, duration, count, key = parse_moof(data, box)
        yield Fragment(box.start, mdat.end, base, duration, count, key)


@dataclass(frozen=True)
class FileScan:
    init: Init | None
    complete_bytes: int  # offset just past the last complete fragment (or the init)
    duration_s: float
    fragments: int


def scan_bytes(data: bytes) -> FileScan:
    init = parse_init(data)
    if init is None:
        return FileScan(None, 0, 0.0, 0)
    end = init.size
    first = last = None
    count = 0
    for frag in iter_fragments(data, init.size):
        if first is None:
            first = frag
        last = frag
        end = frag.end
        count += 1
    # complete boxes after the last fragment (`mfra` written at a clean close) belong too
    for box in iter_boxes(data, end):
        if box.kind in (b"moof", b"mdat"):
            break
        end = box.end
    duration = 0.0
    if first is not None and last is not None:
        ticks = last.base_decode_time + last.duration_ticks - first.base_decode_time
        duration = ticks / init.timescale
    return FileScan(init, end, duration, count)


def scan_file(path: Path) -> FileScan:
    return scan_bytes(path.read_bytes())


class GrowingFile:
    """Follows a file being written: how many bytes of it are complete fragments, and how
    long they play. Each `scan()` reads only the bytes appended since the last complete
    fragment, so following a 60 s segment costs a few kB per call. Never counts a box that
    runs past the end of what is on disk (a fragment being written)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.init: Init | None = None
        self.complete_bytes = 0
        self.fragments = 0
        self._first_base: int | None = None
        self._end_ticks = 0

    @property
    def duration_s(self) -> float:
        if self.init is None or self._first_base is None:
            return 0.0
        return (self._end_ticks - self._first_base) / self.init.timescale

    def scan(self) -> FileScan:
        try:
            with self.path.open("rb") as fh:
                if self.init is None:
                    head = fh.read(256 * 1024)
                    self.init = parse_init(head)
                    if self.init is None:
                        return FileScan(None, 0, 0.0, 0)
                    self.complete_bytes = self.init.size
                fh.seek(self.complete_bytes)
                tail = fh.read()
        except FileNotFoundError:
            return FileScan(self.init, self.complete_bytes, self.duration_s, self.fragments)
        advanced = 0
        for frag in iter_fragments(tail, 0):
            if self._first_base is None:
                self._first_base = frag.base_decode_time
            self._end_ticks = frag.base_decode_time + frag.duration_ticks
            self.fragments += 1
            advanced = frag.end
        self.complete_bytes += advanced
        return FileScan(self.init, self.complete_bytes, self.duration_s, self.fragments)
