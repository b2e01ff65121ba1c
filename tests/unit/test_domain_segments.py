"""Segment bookkeeping: wall-clock timing of a recorder run (`SegmentTimer`), spans, gaps and
the segments covering a range."""

from __future__ import annotations

import pytest

from guetteur.domain.segments import (
    JOIN_TOLERANCE_US,
    Gap,
    SegmentTimer,
    Span,
    covering,
    gaps_between,
    merge_spans,
)

T0 = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z
S = 1_000_000


def test_first_segment_anchors_the_run_on_the_report_time() -> None:
    timer = SegmentTimer()
    assert not timer.anchored
    seg = timer.segment_finished(0.0, 4.0, reported_at_us=T0 + 4 * S)
    assert timer.anchored
    assert (seg.start_utc_us, seg.end_utc_us, seg.clock_drift_ms) == (T0, T0 + 4 * S, 0)


def test_later_segments_follow_media_time_and_record_the_drift_in_ms() -> None:
    timer = SegmentTimer()
    timer.segment_finished(0.0, 4.0, T0 + 4 * S)
    # reported 300 ms late (transport latency, busy loop): times stay on the media clock
    seg = timer.segment_finished(4.0, 8.0, T0 + 8 * S + 300_000)
    assert (seg.start_utc_us, seg.end_utc_us) == (T0 + 4 * S, T0 + 8 * S)
    assert seg.clock_drift_ms == 300
    # reported 40 ms early: jitter, recorded, but the join stays exact
    early = timer.segment_finished(8.0, 12.04, T0 + 12 * S)
    assert early.clock_drift_ms == -40
    assert early.start_utc_us == T0 + 8 * S
    assert early.end_utc_us == T0 + 12_040_000


def test_drift_of_exactly_the_limit_does_not_re_anchor() -> None:
    timer = SegmentTimer(max_drift_us=1_000_000)
    timer.segment_finished(0.0, 4.0, T0 + 4 * S)
    seg = timer.segment_finished(4.0, 8.0, T0 + 9 * S)
    assert seg.clock_drift_ms == 1000
    assert seg.end_utc_us == T0 + 8 * S


def test_one_late_report_never_shifts_segments() -> None:
    """A busy event loop reads ffmpeg's report 1.5 s late: the segment keeps its media
    times, so no false hole appears in the timeline."""
    timer = SegmentTimer()
    timer.segment_finished(0.0, 4.0, T0 + 4 * S)
    seg = timer.segment_finished(4.0, 8.0, T0 + 9_500_000)
    assert seg.clock_drift_ms == 1500
    assert (seg.start_utc_us, seg.end_utc_us) == (T0 + 4 * S, T0 + 8 * S)
    nxt = timer.segment_finished(8.0, 12.0, T0 + 12 * S + 10_000)
    assert nxt.clock_drift_ms == 10 and nxt.start_utc_us == seg.end_utc_us


def test_a_camera_clock_that_runs_slow_re_anchors_after_confirmation() -> None:
    timer = SegmentTimer(max_drift_us=1_000_000, confirm=3)
    timer.segment_finished(0.0, 4.0, T0 + 4 * S)
    ends = []
    for i, late_ms in enumerate((1500, 1600, 1700)):
        media_end = 8.0 + 4 * i
        seg = timer.segment_finished(media_end - 4, media_end,
                                     T0 + round(media_end * S) + late_ms * 1000)
        ends.append(seg.end_utc_us)
    assert ends[:2] == [T0 + 8 * S, T0 + 12 * S]          # not yet confirmed
    assert ends[2] == T0 + 16 * S + 1_500_000             # re-anchored on the earliest
    assert ends[2] - ends[1] > 4 * S                      # the hole is real, and shows


def test_an_earlier_report_moves_the_anchor_back() -> None:
    timer = SegmentTimer()
    timer.segment_finished(0.0, 4.0, T0 + 4 * S)
    seg = timer.segment_finished(4.0, 8.0, T0 + 6 * S)
    assert seg.clock_drift_ms == -2000
    assert seg.end_utc_us == T0 + 6 * S


def test_a_segment_ending_before_it_starts_is_an_error() -> None:
    with pytest.raises(ValueError):
        SegmentTimer().segment_finished(5.0, 4.0, T0)


def test_merge_spans_joins_within_the_tolerance_and_sorts() -> None:
    assert JOIN_TOLERANCE_US == 1_500_000
    intervals = [(20 * S, 30 * S), (0, 10 * S), (11 * S, 19 * S), (32 * S, 40 * S)]
    # 10 s -> 11 s: 1 s hole, joined; 19 s -> 20 s joined; 30 s -> 32 s: 2 s, not joined
    assert merge_spans(intervals) == [Span(0, 30 * S), Span(32 * S, 40 * S)]


def test_merge_spans_with_zero_tolerance_joins_only_touching_or_overlapping() -> None:
    assert merge_spans([(0, 10), (10, 20), (21, 30)], join_tolerance_us=0) == [
        Span(0, 20), Span(21, 30)]
    assert merge_spans([(0, 100), (10, 20)], join_tolerance_us=0) == [Span(0, 100)]
    assert merge_spans([]) == []


def test_gaps_between_spans_carry_the_recorded_reason_or_unknown() -> None:
    spans = [Span(10, 20), Span(30, 40)]
    recorded = [Gap(22, 25, "camera_offline")]
    gaps = gaps_between(spans, from_us=0, to_us=50, recorded_gaps=recorded, now_us=1000)
    assert gaps == [Gap(0, 10, "unknown"), Gap(20, 30, "camera_offline"), Gap(40, 50, "unknown")]


def test_the_last_gap_stops_at_now_not_in_the_future() -> None:
    gaps = gaps_between([Span(10, 20)], 0, 100, [Gap(20, 90, "recorder_stopped")], now_us=60)
    assert gaps == [Gap(0, 10, "unknown"), Gap(20, 60, "recorder_stopped")]


def test_no_gap_when_spans_cover_the_range_or_the_range_is_in_the_future() -> None:
    assert gaps_between([Span(0, 100)], 10, 90, [], now_us=1000) == []
    assert gaps_between([], 100, 200, [], now_us=50) == []


def test_a_recorded_gap_only_touching_a_hole_does_not_name_it() -> None:
    gaps = gaps_between([Span(10, 20)], 0, 30, [Gap(20, 30, "storage_error")], now_us=30)
    assert gaps == [Gap(0, 10, "unknown"), Gap(20, 30, "storage_error")]


def test_spans_outside_the_range_are_ignored() -> None:
    spans = [Span(0, 5), Span(12, 18), Span(100, 200)]
    assert gaps_between(spans, 10, 20, [], now_us=1000) == [Gap(10, 12, "unknown"),
                                                           Gap(18, 20, "unknown")]


def test_covering_is_half_open_and_sorted_by_start() -> None:
    intervals = [(3, 20, 30), (1, 0, 10), (2, 10, 20), (4, 30, 40)]
    assert covering(intervals, 10, 30) == [2, 3]       # [0,10) ends at 10, [30,40) starts at 30
    assert covering(intervals, 9, 31) == [1, 2, 3, 4]
    assert covering(intervals, 15, 16) == [2]
    assert covering(intervals, 40, 50) == []
