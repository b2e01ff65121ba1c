"""Time conventions: UTC microseconds stored, Europe/Paris for people."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from guetteur.domain.errors import InvalidInput
from guetteur.domain.timeutil import (
    from_us,
    iso_paris,
    iso_utc,
    paris_day_bounds,
    paris_today,
    parse_instant,
    to_us,
)

H = 3_600_000_000


def utc(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=UTC))


def test_z_suffix_is_utc() -> None:
    assert parse_instant("2026-11-25T20:30:00Z") == utc(2026, 11, 25, 20, 30)
    assert parse_instant("2026-11-25T20:30:00.123456Z") == utc(2026, 11, 25, 20, 30) + 123_456


def test_an_explicit_offset_is_taken_as_given() -> None:
    assert parse_instant("2026-11-25T21:30:00+01:00") == utc(2026, 11, 25, 20, 30)
    assert parse_instant("2026-11-25T15:30:00-05:00") == utc(2026, 11, 25, 20, 30)


def test_naive_time_is_paris_winter_time() -> None:
    assert parse_instant("2026-11-25T21:30:00") == utc(2026, 11, 25, 20, 30)
    assert parse_instant("2026-11-25 21:30:00") == utc(2026, 11, 25, 20, 30)


def test_naive_time_is_paris_summer_time() -> None:
    assert parse_instant("2026-07-01T12:00:00") == utc(2026, 7, 1, 10, 0)


def test_naive_time_on_the_dst_days() -> None:
    # 29 March 2026: 02:00 -> 03:00; 25 October 2026: 03:00 -> 02:00
    assert parse_instant("2026-03-29T01:30:00") == utc(2026, 3, 29, 0, 30)
    assert parse_instant("2026-03-29T03:30:00") == utc(2026, 3, 29, 1, 30)
    assert parse_instant("2026-10-25T01:30:00") == utc(2026, 10, 24, 23, 30)
    assert parse_instant("2026-10-25T03:30:00") == utc(2026, 10, 25, 2, 30)


def test_integers_are_utc_microseconds() -> None:
    assert parse_instant("1795638600000000") == 1_795_638_600_000_000
    assert parse_instant(" 0 ") == 0
    assert parse_instant("-1") == -1


@pytest.mark.parametrize("text", ["", "   ", "hier", "2026-13-01T00:00", "2026-02-30T10:00",
                                  "25/11/2026 21:30", "12abc", "--5", "²", "１２"])
def test_garbage_is_invalid_input_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_instant(text, "from")
    assert err.value.field == "from"


def test_paris_day_bounds_on_an_ordinary_day() -> None:
    start, end = paris_day_bounds(date(2026, 11, 25))
    assert start == utc(2026, 11, 24, 23, 0)
    assert end - start == 24 * H


def test_paris_day_bounds_on_the_23_hour_day() -> None:
    start, end = paris_day_bounds(date(2026, 3, 29))
    assert start == utc(2026, 3, 28, 23, 0)
    assert end == utc(2026, 3, 29, 22, 0)
    assert end - start == 23 * H


def test_paris_day_bounds_on_the_25_hour_day() -> None:
    start, end = paris_day_bounds(date(2026, 10, 25))
    assert start == utc(2026, 10, 24, 22, 0)
    assert end == utc(2026, 10, 25, 23, 0)
    assert end - start == 25 * H


def test_consecutive_days_tile_without_overlap() -> None:
    assert paris_day_bounds(date(2026, 3, 28))[1] == paris_day_bounds(date(2026, 3, 29))[0]
    assert paris_day_bounds(date(2026, 10, 25))[1] == paris_day_bounds(date(2026, 10, 26))[0]


def test_paris_today_switches_at_paris_midnight() -> None:
    assert paris_today(utc(2026, 11, 24, 22, 59)) == date(2026, 11, 24)
    assert paris_today(utc(2026, 11, 24, 23, 0)) == date(2026, 11, 25)


def test_round_trip_and_formatting() -> None:
    us = utc(2026, 11, 25, 20, 30) + 123_456
    assert to_us(from_us(us)) == us
    assert iso_utc(us) == "2026-11-25T20:30:00.123Z"
    assert iso_paris(us) == "2026-11-25T21:30:00.123+01:00"
    with pytest.raises(ValueError):
        to_us(datetime(2026, 1, 1))
