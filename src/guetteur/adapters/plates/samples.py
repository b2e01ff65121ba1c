"""The video samples of a recorded segment, read for the plate analyser without libavformat,
and a decoder fed one sample at a time.

The recorder's segments are fragmented MP4: the fragments' `trun` tables are parsed here
(~8 ms a 60-s segment against ~70 ms for libavformat's demuxer) and only the samples decoded
are read from the file (mapped). Anything else (plain MP4, a fragment cut by a crash, several
tracks) goes to PyAV's demuxer.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from guetteur.adapters.media.fmp4 import Box, iter_boxes, parse_tfdt, parse_tfhd


@dataclass
class Sample:
    pts: int
    offset: int
    size: int
    key: bool
    packet: Any = None  # an av.Packet when demuxed by PyAV (fallback)


class Source:
    """The segment's video samples in decoding order, grouped into GOPs, and a decoder."""

    def __init__(self, path: Path) -> None:
        self._mm: mmap.mmap | None = None
        self._fh = None
        parsed = _parse_fmp4(path)
        if parsed is not None:
            self.samples, extradata, self.ticks_per_s, self.size, self._fh, self._mm = parsed
            codec_name = "h264"
        else:
            self.samples, extradata, self.ticks_per_s, self.size, codec_name = _demux(path)
        self.keys = [i for i, s in enumerate(self.samples) if s.key]
        self.decoder = av.CodecContext.create(codec_name, "r")
        self.decoder.extradata = extradata
        self.decoder.thread_count = 1
        self.first_pts = self.samples[0].pts if self.samples else 0

    def gop(self, g: int) -> range:
        """Sample indexes of GOP `g` (its keyframe first)."""
        end = self.keys[g + 1] if g + 1 < len(self.keys) else len(self.samples)
        return range(self.keys[g], end)

    def decode(self, index: int) -> Any | None:
        s = self.samples[index]
        if s.packet is not None:
            packet = s.packet
        else:
            assert self._mm is not None
            packet = av.Packet(self._mm[s.offset:s.offset + s.size])
            packet.pts = packet.dts = s.pts
        # one thread and no B-frames: a frame comes out of the decoder as soon as it goes in
        for frame in self.decoder.decode(packet):
            return frame
        return None

    def wall_us(self, start_utc_us: int) -> list[int]:
        """UTC time of every keyframe, for a segment whose first frame is at `start_utc_us`."""
        return [start_utc_us + self.us(i) for i in self.keys]

    def us(self, index: int) -> int:
        return round((self.samples[index].pts - self.first_pts) * 1e6 / self.ticks_per_s)

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
        if self._fh is not None:
            self._fh.close()


def _children(data: Any, box: Box) -> Iterator[Box]:
    return iter_boxes(data, box.start + 8, box.end)


def _full_box_flags(data: Any, box: Box) -> int:
    return int.from_bytes(data[box.start + 9:box.start + 12], "big")


def _parse_fmp4(path: Path) -> tuple[list[Sample], bytes, int, tuple[int, int], Any,
                                     mmap.mmap] | None:
    """Samples of a fragmented MP4 with one H.264 track, from its `moof` boxes; None when the
    file is anything else (the caller then demuxes it with PyAV)."""
    fh = path.open("rb")
    try:
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (ValueError, OSError):
        fh.close()
        return None
    try:
        parsed = _parse_mapped(mm)
    except (struct.error, IndexError, ValueError):
        parsed = None
    if parsed is None:
        mm.close()
        fh.close()
        return None
    samples, extradata, timescale, size = parsed
    return samples, extradata, timescale, size, fh, mm


def _parse_mapped(mm: mmap.mmap) -> tuple[list[Sample], bytes, int, tuple[int, int]] | None:
    moov = None
    samples: list[Sample] = []
    for box in iter_boxes(mm):
        if box.kind == b"moov":
            moov = box
        elif box.kind == b"moof" and not _parse_moof(mm, box, samples):
            return None
    if moov is None or not samples or not samples[0].key:
        return None
    init = mm[moov.start:moov.end]
    if init.count(b"trak") != 1:
        return None  # several tracks: let PyAV sort them out
    avcc = init.find(b"avcC")
    mdhd = init.find(b"mdhd")
    avc1 = init.find(b"avc1")
    if avcc < 4 or mdhd < 4 or avc1 < 4:
        return None
    # the visual sample entry: 6 reserved, data reference index, 16 bytes, width, height
    width, height = struct.unpack_from(">HH", init, avc1 + 4 + 24)
    size = struct.unpack_from(">I", init, avcc - 4)[0]
    extradata = init[avcc + 4:avcc - 4 + size]
    version = init[mdhd + 4]
    timescale = struct.unpack_from(">I", init, mdhd + 4 + 4 + (16 if version == 1 else 8))[0]
    if timescale <= 0 or not width or not height:
        return None
    return samples, extradata, timescale, (width, height)


def _parse_moof(mm: mmap.mmap, moof: Box, samples: list[Sample]) -> bool:
    traf = next((b for b in _children(mm, moof) if b.kind == b"traf"), None)
    if traf is None:
        return False
    default_duration = default_size = default_flags = 0
    base_offset = moof.start  # default-base-is-moof (the recorder's movflags)
    base_time = None
    trun = None
    for box in _children(mm, traf):
        if box.kind == b"tfhd":
            d = parse_tfhd(mm, box)
            base_offset = d.base_data_offset if d.base_data_offset is not None else base_offset
            default_duration = d.default_duration or 0
            default_size = d.default_size or 0
            default_flags = d.default_flags or 0
        elif box.kind == b"tfdt":
            base_time = parse_tfdt(mm, box)
        elif box.kind == b"trun":
            if trun is not None:
                return False  # several runs: not what the recorder writes
            trun = box
    if trun is None or base_time is None:
        return False
    flags = _full_box_flags(mm, trun)
    version = mm[trun.start + 8]
    count = struct.unpack_from(">I", mm, trun.start + 12)[0]
    pos = trun.start + 16
    offset = base_offset
    if flags & 0x01:
        offset += struct.unpack_from(">i", mm, pos)[0]
        pos += 4
    first_flags = None
    if flags & 0x04:
        first_flags = struct.unpack_from(">I", mm, pos)[0]
        pos += 4
    t = base_time
    for i in range(count):
        duration, size, sflags, cto = default_duration, default_size, default_flags, 0
        if flags & 0x100:
            duration = struct.unpack_from(">I", mm, pos)[0]
            pos += 4
        if flags & 0x200:
            size = struct.unpack_from(">I", mm, pos)[0]
            pos += 4
        if flags & 0x400:
            sflags = struct.unpack_from(">I", mm, pos)[0]
            pos += 4
        if i == 0 and first_flags is not None:
            sflags = first_flags
        if flags & 0x800:
            cto = struct.unpack_from(">i" if version else ">I", mm, pos)[0]
            pos += 4
        if size <= 0 or offset + size > len(mm):
            return False
        samples.append(Sample(t + cto, offset, size, not (sflags >> 16) & 1))
        offset += size
        t += duration
    return True


def _demux(path: Path) -> tuple[list[Sample], bytes, int, tuple[int, int], str]:
    container = av.open(str(path))
    try:
        stream = container.streams.video[0]
        samples = []
        for pkt in container.demux(stream):
            if pkt.dts is None or pkt.size == 0:
                continue
            pts = pkt.pts if pkt.pts is not None else pkt.dts
            if not samples and not pkt.is_keyframe:
                continue  # nothing decodes before the first keyframe
            samples.append(Sample(pts, 0, pkt.size, bool(pkt.is_keyframe), pkt))
        tb = stream.time_base
        ticks = round(tb.denominator / tb.numerator) if tb.numerator else 90_000
        return (samples, bytes(stream.codec_context.extradata or b""), ticks,
                (stream.codec_context.width, stream.codec_context.height),
                stream.codec_context.name)
    finally:
        container.close()
