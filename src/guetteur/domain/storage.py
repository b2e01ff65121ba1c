"""Free-space rules of the footage storage: when footage is deleted before its retention, which
segments go first, and what state recording is in (decision 0009).

The watermark is the free space kept on the storage's file system: the largest of a share of
its size, a fixed number of bytes and a few minutes of footage at the current write rate.
Below it the oldest footage is deleted early, until free space is back a fifth above it (so
the purge does not run at every check). Below the *floor* (half the watermark) with nothing
left to delete, recording is interrupted: the floor and the reserve file are the room the
database, the audit trail and logins keep when they share the file system.

Invariants:
- a segment that meets an active hold or the range of an unfinished export is never chosen
  (the retention purge's rule, `cases.held`);
- segments are chosen oldest first across cameras (end, then start, then id), and no more than
  needed to reach the target;
- free space is counted without the reserve file's bytes when that file is missing (released,
  or not created yet): recording resumes only with room to re-create it, and only once free
  space is back above the watermark (hysteresis: an interrupted recording does not flap at the
  floor).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from guetteur.domain.cases import HoldSpan, held

GIB = 1 << 30
MIB = 1 << 20
ALERT_HOLD_S = 3600  # an early purge keeps the alert up this long: monitors polling see it
TARGET_MARGIN = 0.2  # an early purge frees up to the watermark plus this share of it
REASON = "purge anticipée : disque plein"

SpaceState = Literal["ok", "early_purge", "low", "full"]
DEGRADED: frozenset[str] = frozenset({"early_purge", "low", "full"})


@dataclass(frozen=True)
class SpacePolicy:
    min_free_pct: float = 5.0
    min_free_bytes: int = 2 * GIB
    min_free_minutes: float = 10.0
    reserve_bytes: int = 64 * MIB

    def watermark_bytes(self, total_bytes: int, write_rate_bytes_per_s: float) -> int:
        return int(max(total_bytes * self.min_free_pct / 100, self.min_free_bytes,
                       write_rate_bytes_per_s * self.min_free_minutes * 60))

    @staticmethod
    def floor_bytes(watermark_bytes: int) -> int:
        """Below this, with nothing to delete, recording stops: the rest is the database's."""
        return watermark_bytes // 2

    @staticmethod
    def target_bytes(watermark_bytes: int) -> int:
        return watermark_bytes + math.ceil(watermark_bytes * TARGET_MARGIN)

    def need_bytes(self, free_bytes: int, watermark_bytes: int) -> int:
        """Bytes an early purge must free now (0 while free space is above the watermark)."""
        if free_bytes >= watermark_bytes:
            return 0
        return self.target_bytes(watermark_bytes) - free_bytes


@dataclass(frozen=True)
class Candidate:
    """A recorded segment as the selection rule sees it."""

    segment_id: int
    camera_id: int
    start_utc_us: int
    end_utc_us: int
    size_bytes: int


def protected(c: Candidate, spans: Sequence[HoldSpan]) -> bool:
    return held(c.start_utc_us, c.end_utc_us, [s for s in spans if s.camera_id == c.camera_id])


def oldest_first(c: Candidate) -> tuple[int, int, int]:
    return (c.end_utc_us, c.start_utc_us, c.segment_id)


def choose_to_free(candidates: Iterable[Candidate], spans: Sequence[HoldSpan],
                   need_bytes: int) -> list[Candidate]:
    """The unprotected segments to delete, oldest first, until `need_bytes` are freed (all of
    them if that is not enough)."""
    chosen: list[Candidate] = []
    freed = 0
    for c in sorted(candidates, key=oldest_first):
        if freed >= need_bytes:
            break
        if protected(c, spans):
            continue
        chosen.append(c)
        freed += c.size_bytes
    return chosen


class RateMeter:
    """Write rate of the file system from successive free-space readings (bytes/s, smoothed
    over about `tau_s`). Space freed by Guetteur itself is added back, so its own deletions do
    not read as a negative rate; other deletions only lower the estimate for a while."""

    def __init__(self, tau_s: float = 60.0) -> None:
        self._tau_s = tau_s
        self._last: tuple[int, int] | None = None  # (at_utc_us, used_bytes)
        self.bytes_per_s = 0.0

    def observe(self, now_us: int, used_bytes: int, freed_bytes: int = 0) -> float:
        if self._last is not None:
            at, used = self._last
            dt_s = (now_us - at) / 1e6
            if dt_s > 0:
                written = max(0, used_bytes - used + freed_bytes)
                alpha = 1 - math.exp(-dt_s / self._tau_s)
                self.bytes_per_s += alpha * (written / dt_s - self.bytes_per_s)
        self._last = (now_us, used_bytes)
        return self.bytes_per_s


def assess(free_bytes: int, watermark_bytes: int, *, was_full: bool,
           last_early_purge_utc_us: int | None, now_us: int) -> SpaceState:
    """The state after a check (and its early purge, if any). `free_bytes` counts a reserve
    file not allocated yet as used: recording resumes with room to re-create it."""
    floor = SpacePolicy.floor_bytes(watermark_bytes)
    if was_full and free_bytes < watermark_bytes:
        return "full"
    if free_bytes < floor:
        return "full"
    if free_bytes < watermark_bytes:
        return "low"
    if last_early_purge_utc_us is not None and \
            now_us - last_early_purge_utc_us < ALERT_HOLD_S * 1_000_000:
        return "early_purge"
    return "ok"


def _go(n_bytes: int) -> str:
    if n_bytes < 1e9:
        return f"{n_bytes / 1e6:.0f} Mo"
    return f"{n_bytes / 1e9:.1f} Go".replace(".", ",")


def message(state: SpaceState, free_bytes: int, total_bytes: int, watermark_bytes: int) -> str:
    """What an administrator or an operator reads (banner, /healthz, `guetteur status`)."""
    free = f"{_go(free_bytes)} libres sur {_go(total_bytes)}"
    if state == "full":
        return ("Stockage plein : enregistrement interrompu, toutes les images restantes sont "
                f"sous scellé/export ({free}). Libérez de l'espace (levée de gel, extraction "
                "terminée, disque agrandi) : l'enregistrement reprendra de lui-même.")
    if state == "low":
        return (f"Disque presque plein ({free}) et plus rien à effacer : toutes les images "
                "restantes sont sous scellé/export. L'enregistrement s'arrêtera sous "
                f"{_go(SpacePolicy.floor_bytes(watermark_bytes))} libres.")
    if state == "early_purge":
        return (f"Disque plein : les images les plus anciennes sont effacées avant la fin de "
                f"leur durée de conservation ({REASON}, voir le registre ; {free}). Agrandissez "
                "le stockage ou réduisez la durée de conservation.")
    return f"Stockage : {free}."
