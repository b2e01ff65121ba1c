"""Time conventions: stored in UTC as integer microseconds since the Unix epoch (`*_utc_us`),
shown in Europe/Paris.

Integers sort and index the same on SQLite and PostgreSQL and keep sub-millisecond precision.
Naive date-times typed by a person are read as Europe/Paris local time, never as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from guetteur.domain.errors import InvalidInput

PARIS = ZoneInfo("Europe/Paris")
US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
_INTEGER_RE = re.compile(r"-?[0-9]+")  # ASCII only: str.isdigit() accepts "²", which int() refuses


def to_us(moment: datetime) -> int:
    """UTC microseconds of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give a time zone")
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def from_us(utc_us: int) -> datetime:
    """Aware UTC datetime of UTC microseconds."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=utc_us)


def iso_utc(utc_us: int) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, e.g. 2026-11-25T18:00:00.123Z."""
    return from_us(utc_us).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso_paris(utc_us: int) -> str:
    """ISO 8601 in Europe/Paris with the offset, for people."""
    return from_us(utc_us).astimezone(PARIS).isoformat(timespec="milliseconds")


def parse_instant(text: str, field: str = "time") -> int:
    """Read an instant typed by a user or sent by the UI into UTC microseconds.

    Accepts ISO 8601 with an offset or Z (taken as given), ISO without an offset (taken as
    Europe/Paris local time) and plain integers (UTC microseconds, as the API returns them).
    """
    raw = text.strip()
    if _INTEGER_RE.fullmatch(raw):
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise InvalidInput(
            f"{field}: « {text} » n'est pas une date-heure ISO 8601 "
            "(exemple : 2026-11-25T21:30:00 en heure de Paris, ou 2026-11-25T20:30:00Z en UTC)",
            field,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PARIS)
    return to_us(moment)


def paris_day_bounds(day: date) -> tuple[int, int]:
    """UTC microseconds of the start and end of a Europe/Paris calendar day (23-25 h long)."""
    start = datetime.combine(day, time(0), tzinfo=PARIS)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=PARIS)
    return to_us(start), to_us(end)


def paris_today(now_us: int) -> date:
    return from_us(now_us).astimezone(PARIS).date()
