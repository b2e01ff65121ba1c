"""The space guard's pure rules (domain/storage.py): the watermark, which segments an early
purge frees and in what order, how much, the write rate, and the state (with a fake clock)."""

from __future__ import annotations

from guetteur.domain.cases import HoldSpan
from guetteur.domain.clock import FakeClock
from guetteur.domain.storage import (
    ALERT_HOLD_S,
    GIB,
    MIB,
    Candidate,
    RateMeter,
    SpacePolicy,
    assess,
    choose_to_free,
    message,
)

S = 1_000_000
T0 = 1_764_000_000 * S


def seg(i: int, cam: int, start_s: int, size_mib: int = 10, length_s: int = 60) -> Candidate:
    start = T0 + start_s * S
    return Candidate(i, cam, start, start + length_s * S, size_mib * MIB)


def test_watermark_is_the_largest_of_share_bytes_and_minutes_of_footage() -> None:
    p = SpacePolicy(min_free_pct=5, min_free_bytes=2 * GIB, min_free_minutes=10)
    assert p.watermark_bytes(100 * GIB, 0) == 5 * GIB  # 5 % of a 100 GiB disk
    assert p.watermark_bytes(10 * GIB, 0) == 2 * GIB  # the floor in bytes on a small disk
    # 100 cameras at 4 Mbit/s: 50 MB/s, ten minutes = 30 GB
    assert p.watermark_bytes(100 * GIB, 50e6) == 30_000_000_000
    assert p.floor_bytes(8 * GIB) == 4 * GIB


def test_need_is_zero_above_the_watermark_and_reaches_a_fifth_past_it() -> None:
    p = SpacePolicy()
    assert p.need_bytes(free_bytes=1000, watermark_bytes=1000) == 0
    assert p.need_bytes(free_bytes=900, watermark_bytes=1000) == 300  # to 1200


def test_oldest_first_across_cameras_protected_ones_skipped() -> None:
    candidates = [seg(1, cam=1, start_s=0), seg(2, cam=2, start_s=30), seg(3, cam=1, start_s=60),
                  seg(4, cam=2, start_s=90), seg(5, cam=1, start_s=120)]
    # a hold on camera 1 over [65 s, 70 s) protects segment 3 only, not camera 2's segment 2
    spans = [HoldSpan(1, T0 + 65 * S, T0 + 70 * S)]
    chosen = choose_to_free(reversed(candidates), spans, need_bytes=35 * MIB)
    assert [c.segment_id for c in chosen] == [1, 2, 4, 5]


def test_no_more_than_needed() -> None:
    candidates = [seg(i, cam=1, start_s=60 * i) for i in range(10)]
    assert [c.segment_id for c in choose_to_free(candidates, [], 15 * MIB)] == [0, 1]
    assert choose_to_free(candidates, [], 0) == []


def test_a_hold_touching_a_segment_by_one_instant_protects_it() -> None:
    candidates = [seg(1, cam=1, start_s=0), seg(2, cam=1, start_s=60)]
    spans = [HoldSpan(1, T0 + 59 * S + 999_999, T0 + 60 * S)]  # last microsecond of seg 1
    assert [c.segment_id for c in choose_to_free(candidates, spans, 100 * MIB)] == [2]


def test_everything_protected_gives_nothing() -> None:
    candidates = [seg(i, cam=1 + i % 2, start_s=60 * i) for i in range(6)]
    spans = [HoldSpan(1, 0, 2**62), HoldSpan(2, 0, 2**62)]
    assert choose_to_free(candidates, spans, 1) == []


def test_write_rate_follows_the_disk_and_ignores_our_own_deletions() -> None:
    clock = FakeClock(T0)
    meter = RateMeter(tau_s=60)
    used = 10 * GIB
    meter.observe(clock.now_us(), used)
    for _ in range(120):  # 10 minutes at 1 MB/s, a reading every 5 s
        clock.advance(5)
        used += 5_000_000
        meter.observe(clock.now_us(), used)
    assert 0.95e6 < meter.bytes_per_s < 1.01e6
    clock.advance(5)  # we deleted 1 GB and 5 MB were written meanwhile
    rate = meter.observe(clock.now_us(), used + 5_000_000 - 1_000_000_000,
                         freed_bytes=1_000_000_000)
    assert 0.95e6 < rate < 1.01e6


def test_states_and_hysteresis() -> None:
    clock = FakeClock(T0)
    wm = 8 * MIB
    now = clock.now_us()
    assert assess(9 * MIB, wm, was_full=False, last_early_purge_utc_us=None, now_us=now) == "ok"
    assert assess(5 * MIB, wm, was_full=False, last_early_purge_utc_us=None,
                  now_us=now) == "low"
    assert assess(3 * MIB, wm, was_full=False, last_early_purge_utc_us=None,
                  now_us=now) == "full"
    # interrupted: stays so until free space is back above the watermark, not the floor
    assert assess(7 * MIB, wm, was_full=True, last_early_purge_utc_us=None,
                  now_us=now) == "full"
    assert assess(8 * MIB, wm, was_full=True, last_early_purge_utc_us=None, now_us=now) == "ok"
    # an early purge keeps the alert up for an hour, then it clears by itself
    purged = clock.now_us()
    clock.advance(ALERT_HOLD_S - 1)
    assert assess(9 * MIB, wm, was_full=False, last_early_purge_utc_us=purged,
                  now_us=clock.now_us()) == "early_purge"
    clock.advance(1)
    assert assess(9 * MIB, wm, was_full=False, last_early_purge_utc_us=purged,
                  now_us=clock.now_us()) == "ok"


def test_the_full_state_says_it_in_french() -> None:
    text = message("full", 1 * GIB, 100 * GIB, 5 * GIB)
    assert text.startswith("Stockage plein : enregistrement interrompu, toutes les images "
                           "restantes sont sous scellé/export")
    assert "1,1 Go libres sur 107,4 Go" in text
    assert "purge anticipée : disque plein" in message("early_purge", 6 * GIB, 100 * GIB,
                                                        5 * GIB)
