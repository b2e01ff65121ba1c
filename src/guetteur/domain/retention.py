"""Retention rules (CSI L252-5): footage is kept at most 30 days.

The cap lives here, in the domain, and every entry point (API, CLI, database constraint) calls
`check_retention_days`. A segment is expired when its *end* is older than the retention: a
segment is only deleted once every frame in it is past the limit.
"""

from __future__ import annotations

from guetteur.domain.errors import InvalidInput
from guetteur.domain.timeutil import US_PER_DAY

MAX_RETENTION_DAYS = 30
MIN_RETENTION_DAYS = 1


def check_retention_days(days: int) -> int:
    if not isinstance(days, int) or isinstance(days, bool):
        raise InvalidInput("La durée de conservation doit être un nombre entier de jours.",
                           "retention_days")
    if days > MAX_RETENTION_DAYS:
        raise InvalidInput(
            f"Durée de conservation de {days} jours refusée : la loi (CSI L252-5) limite la "
            f"conservation des images à {MAX_RETENTION_DAYS} jours. Choisissez 1 à 30 jours ; "
            "pour garder des images au-delà, placez une réquisition judiciaire.",
            "retention_days",
        )
    if days < MIN_RETENTION_DAYS:
        raise InvalidInput(
            f"Durée de conservation de {days} jour(s) refusée : choisissez 1 à 30 jours.",
            "retention_days",
        )
    return days


def cutoff_us(now_us: int, retention_days: int) -> int:
    """Segments that end at or before this instant are past retention."""
    return now_us - retention_days * US_PER_DAY


def is_expired(segment_end_utc_us: int, now_us: int, retention_days: int) -> bool:
    return segment_end_utc_us <= cutoff_us(now_us, retention_days)
