"""Segments, spans and gaps: bookkeeping of what was recorded, as pure functions.

A *segment* is one fragmented-MP4 file of one stream of one camera, cut on a keyframe, about
`segment_duration_s` long. Its wall-clock times come from `SegmentTimer`: an anchor (the wall
time of the run's media time 0) plus the media offsets, so consecutive segments of a run touch
exactly; the measured drift between the camera's media clock and ours is kept in each row.

A *span* is a maximal run of segments that touch (within `join_tolerance_us`); between spans are
*gaps*, each with a reason when one was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GapReason = Literal["camera_offline", "recorder_crashed", "recorder_stopped", "storage_error",
                    "node_lost", "node_drained", "rebalance", "unknown"]
# node_lost / node_drained / rebalance: a camera lease changed node (decision 0012).
GAP_REASONS: tuple[GapReason, ...] = ("camera_offline", "recorder_crashed", "recorder_stopped",
                                      "storage_error", "node_lost", "node_drained", "rebalance",
                                      "unknown")
JOIN_TOLERANCE_US = 1_500_000
# A new recorder run always follows an interruption (crash, camera gone): a hole longer than
# about one fragment is then recorded as a gap row with its reason, even one too short to show
# on the timeline (spans closer than JOIN_TOLERANCE_US are drawn joined).
RESTART_GAP_MIN_US = 250_000


@dataclass(frozen=True)
class TimedSegment:
    start_utc_us: int
    end_utc_us: int
    clock_drift_ms: int


class SegmentTimer:
    """Turns ffmpeg's media times of one recorder run into wall-clock times.

    ffmpeg reports each finished segment with its media start and end in seconds from the first
    packet of the run. The report comes when the next keyframe arrives, so the wall clock at
    report time is the wall-clock end of the segment plus a delay that can only be positive
    (transport, a busy event loop). Hence the anchor (wall time of media time 0) follows the
    *earliest* `reported - media_end` seen (beyond `early_tolerance_us` of jitter): a late
    report never shifts segments. A camera whose
    clock really runs slow shows the same positive drift on `confirm` reports in a row beyond
    `max_drift_us`; only then is the anchor moved forward. The drift of every report is
    returned in milliseconds, for the segment row.
    """

    def __init__(self, max_drift_us: int = 1_000_000, confirm: int = 3,
                 early_tolerance_us: int = 100_000) -> None:
        self._anchor_us: int | None = None
        self._early_tolerance_us = early_tolerance_us
        self._max_drift_us = max_drift_us
        self._confirm = confirm
        self._late: list[int] = []

    @property
    def anchored(self) -> bool:
        return self._anchor_us is not None

    def segment_finished(self, media_start_s: float, media_end_s: float,
                         reported_at_us: int) -> TimedSegment:
        start_off = round(media_start_s * 1_000_000)
        end_off = round(media_end_s * 1_000_000)
        if end_off < start_off:
            raise ValueError("segment ends before it starts")
        candidate = reported_at_us - end_off
        if self._anchor_us is None:
            self._anchor_us = candidate
        drift = candidate - self._anchor_us
        if drift < -self._early_tolerance_us:
            # a clearly earlier report: the first ones were late (a busy start); a few tens of
            # milliseconds of jitter are not worth a join that overlaps
            self._anchor_us = candidate
            self._late.clear()
        elif drift > self._max_drift_us:
            self._late.append(candidate)
            if len(self._late) >= self._confirm:
                self._anchor_us = min(self._late)
                self._late.clear()
        else:
            self._late.clear()
        return TimedSegment(self._anchor_us + start_off, self._anchor_us + end_off,
                            round(drift / 1000))


@dataclass(frozen=True)
class Span:
    start_utc_us: int
    end_utc_us: int


@dataclass(frozen=True)
class Gap:
    start_utc_us: int
    end_utc_us: int
    reason: str


def merge_spans(intervals: list[tuple[int, int]],
                join_tolerance_us: int = JOIN_TOLERANCE_US) -> list[Span]:
    """Merge recorded intervals that touch or overlap into spans, sorted by start."""
    spans: list[Span] = []
    for start, end in sorted(intervals):
        if spans and start <= spans[-1].end_utc_us + join_tolerance_us:
            last = spans[-1]
            spans[-1] = Span(last.start_utc_us, max(last.end_utc_us, end))
        else:
            spans.append(Span(start, end))
    return spans


def gaps_between(spans: list[Span], from_us: int, to_us: int,
                 recorded_gaps: list[Gap], now_us: int) -> list[Gap]:
    """Holes in [from_us, min(to_us, now_us)) not covered by spans, with the reason of a
    recorded gap that overlaps each hole (`unknown` when none does: e.g. before the camera
    was added)."""
    end_limit = min(to_us, now_us)
    holes: list[tuple[int, int]] = []
    cursor = from_us
    for span in spans:
        if span.end_utc_us <= cursor:
            continue
        if span.start_utc_us >= end_limit:
            break
        if span.start_utc_us > cursor:
            holes.append((cursor, span.start_utc_us))
        cursor = max(cursor, span.end_utc_us)
    if cursor < end_limit:
        holes.append((cursor, end_limit))
    result = []
    for start, end in holes:
        reason = "unknown"
        for gap in recorded_gaps:
            if gap.start_utc_us < end and gap.end_utc_us > start:
                reason = gap.reason
                break
        result.append(Gap(start, end, reason))
    return result


def covering(intervals: list[tuple[int, int, int]], from_us: int, to_us: int) -> list[int]:
    """Ids of the (id, start, end) intervals that overlap [from_us, to_us), sorted by start."""
    return [i for i, s, e in sorted(intervals, key=lambda x: x[1]) if s < to_us and e > from_us]
