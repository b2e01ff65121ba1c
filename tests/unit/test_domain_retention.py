"""The 30-day cap (CSI L252-5) and the expiry rule: a segment is expired only once its *end*
is at or before now - retention."""

from __future__ import annotations

import pytest

from guetteur.domain.errors import InvalidInput
from guetteur.domain.retention import (
    MAX_RETENTION_DAYS,
    check_retention_days,
    cutoff_us,
    is_expired,
)
from guetteur.domain.timeutil import US_PER_DAY

NOW_US = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z


@pytest.mark.parametrize("days", [1, 7, 30])
def test_retention_between_1_and_30_days_is_accepted(days: int) -> None:
    assert check_retention_days(days) == days


def test_31_days_is_refused_citing_the_law_and_the_cap() -> None:
    with pytest.raises(InvalidInput) as err:
        check_retention_days(31)
    assert err.value.field == "retention_days"
    assert "30 jours" in err.value.message
    assert "L252-5" in err.value.message
    assert MAX_RETENTION_DAYS == 30


@pytest.mark.parametrize("days", [0, -1])
def test_zero_or_negative_retention_is_refused(days: int) -> None:
    with pytest.raises(InvalidInput) as err:
        check_retention_days(days)
    assert err.value.field == "retention_days"
    assert "1 à 30 jours" in err.value.message


@pytest.mark.parametrize("days", [True, 7.0, "7", None])
def test_non_integer_retention_is_refused(days: object) -> None:
    with pytest.raises(InvalidInput):
        check_retention_days(days)  # type: ignore[arg-type]


def test_cutoff_is_now_minus_whole_days() -> None:
    assert cutoff_us(NOW_US, 7) == NOW_US - 7 * US_PER_DAY


def test_a_segment_ending_exactly_at_the_cutoff_is_expired() -> None:
    cutoff = cutoff_us(NOW_US, 30)
    assert is_expired(cutoff, NOW_US, 30)
    assert is_expired(cutoff - 1, NOW_US, 30)


def test_a_segment_ending_one_microsecond_after_the_cutoff_is_kept() -> None:
    cutoff = cutoff_us(NOW_US, 30)
    assert not is_expired(cutoff + 1, NOW_US, 30)


def test_shorter_retention_expires_more() -> None:
    end = NOW_US - 10 * US_PER_DAY
    assert is_expired(end, NOW_US, 7)
    assert not is_expired(end, NOW_US, 30)
