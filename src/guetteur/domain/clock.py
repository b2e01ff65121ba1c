"""Where "now" comes from. Services take a `Clock` so retention and expiry rules are tested with
a `FakeClock` that is moved by hand, never by sleeping (Moonfire's SimulatedClocks)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_us(self) -> int:
        """Current UTC time in microseconds since the epoch."""
        ...


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1000


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start_us: int) -> None:
        self._now_us = start_us

    def now_us(self) -> int:
        return self._now_us

    def advance(self, seconds: float) -> None:
        self._now_us += int(seconds * 1_000_000)

    def set(self, utc_us: int) -> None:
        self._now_us = utc_us
