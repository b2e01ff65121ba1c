"""Remux recorded segments into one evidence MP4, packet by packet with PyAV (no decoding).

Why PyAV rather than ffmpeg's concat demuxer (which clips use): the evidence sidecar must give
the wall-clock time of *every frame written*, so we must know exactly which packets go in. Here
the file starts at the keyframe at or before the requested start and ends with the last frame
that starts before the requested end. Gaps between segments are closed up in the output's
timeline (declared in the manifest; the sidecar keeps the true times). The output is
fragmented MP4 so it can be written straight into a zip member (not seekable) in one pass;
VLC, browsers and ffprobe read it.

Wall-clock time of a frame = its segment's wall-clock start + (frame pts - the segment's first
pts) in the stream's time base.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av

from guetteur.domain.errors import MediaError

_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
_REPORT_EVERY = 250  # packets between progress/cancel callbacks


class Cancelled(Exception):
    """The caller asked to stop."""


@dataclass(frozen=True)
class Part:
    path: Path
    start_utc_us: int
    size_bytes: int


@dataclass
class RemuxResult:
    frames: int = 0
    first_utc_us: int | None = None
    last_utc_us: int | None = None
    width: int = 0
    height: int = 0
    codec_name: str = ""
    time_base: Fraction = Fraction(1, 90_000)
    # per written frame: (pts in output time base, keyframe, wall-clock UTC µs)
    frame_times: list[tuple[int, bool, int]] = field(default_factory=list)


def remux_parts(parts: list[Part], from_us: int, to_us: int, out: io.RawIOBase | IO[bytes],
                on_progress: Callable[[int], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> RemuxResult:
    """Write the frames of `parts` (in order) between from_us and to_us into `out`."""
    result = RemuxResult()
    muxer = av.open(out, "w", format="mp4", buffer_size=1 << 20,
                    options={"movflags": _MOVFLAGS})
    try:
        _remux(parts, from_us, to_us, muxer, result, on_progress, cancelled)
    finally:
        muxer.close()
    return result


def _remux(parts: list[Part], from_us: int, to_us: int, muxer: Any, result: RemuxResult,
           on_progress: Callable[[int], None] | None,
           cancelled: Callable[[], bool] | None) -> None:
    ost = None
    started = False
    pending: list[Any] = []  # packets from the last keyframe before the start
    next_dts = 0  # output dts the next segment's first written packet gets
    last_delta = 0
    for part in parts:
        if cancelled is not None and cancelled():
            raise Cancelled
        try:
            # after the first file (whose stream is the output's template), skip the decoding
            # that probing does: it is most of the cost of opening a file (bench/export.py)
            inp = av.open(str(part.path), stream_options=[{"skip_frame": "all"}]
                          if ost is not None else None)
        except (av.FFmpegError, OSError) as exc:
            raise MediaError(f"segment illisible {part.path.name} : {exc}") from exc
        with inp:
            ist = inp.streams.video[0]
            tb = ist.time_base
            if ost is None:
                ost = muxer.add_stream_from_template(ist)
                result.time_base = Fraction(tb)
                result.width, result.height = ist.codec_context.width, ist.codec_context.height
                result.codec_name = ist.codec_context.name
            tb_num, tb_den = tb.numerator * 1_000_000, tb.denominator  # integers: fast
            first_pts = None
            base = None  # output dts = input dts + base, for this segment
            done_bytes = 0  # read since the last report
            reported = 0  # reported for this part
            count = 0
            stop = False
            for pkt in inp.demux(ist):
                if pkt.dts is None or pkt.size == 0:
                    continue
                if first_pts is None:
                    first_pts = pkt.pts if pkt.pts is not None else pkt.dts
                pts = pkt.pts if pkt.pts is not None else pkt.dts
                wall = part.start_utc_us + ((pts - first_pts) * tb_num + tb_den // 2) // tb_den
                count += 1
                done_bytes += pkt.size
                if count % _REPORT_EVERY == 0:
                    if on_progress is not None:
                        on_progress(done_bytes)
                        reported += done_bytes
                        done_bytes = 0
                    if cancelled is not None and cancelled():
                        raise Cancelled
                if wall >= to_us:
                    stop = True
                    break
                if not started:
                    if pkt.is_keyframe:
                        pending = [(pkt, wall)]
                    elif pending:
                        pending.append((pkt, wall))
                    if pending and wall >= from_us:
                        started = True
                        for held_pkt, held_wall in pending:
                            base, next_dts, last_delta = _write(
                                muxer, ost, held_pkt, held_wall, base, next_dts, last_delta,
                                result)
                        pending = []
                    continue
                base, next_dts, last_delta = _write(muxer, ost, pkt, wall, base, next_dts,
                                                    last_delta, result)
            if on_progress is not None:
                # payload bytes are reported as read; headers and boxes at the part's end, so
                # that a fully read part counts for exactly its size
                on_progress(max(0, part.size_bytes - reported))
            if stop:
                break
    if not started and pending:
        # the range ends before any frame at or after its start: keep the keyframe run
        for held_pkt, held_wall in pending:
            base, next_dts, last_delta = _write(muxer, ost, held_pkt, held_wall, base,
                                                next_dts, last_delta, result)


def _write(muxer: Any, ost: Any, pkt: Any, wall: int, base: int | None, next_dts: int,
           last_delta: int, result: RemuxResult) -> tuple[int, int, int]:
    if base is None:
        base = next_dts - pkt.dts
    pts = pkt.pts if pkt.pts is not None else pkt.dts
    pkt.dts = pkt.dts + base
    pkt.pts = pts + base
    duration = pkt.duration or last_delta
    pkt.stream = ost
    muxer.mux(pkt)
    result.frames += 1
    result.frame_times.append((pkt.pts, bool(pkt.is_keyframe), wall))
    if result.first_utc_us is None:
        result.first_utc_us = wall
    result.last_utc_us = wall
    return base, pkt.dts + max(duration, 1), duration or last_delta
