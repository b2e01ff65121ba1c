"""Judicial cases, holds and exports: the rules, as pure functions.

A *case* records a judicial requisition (reference, requesting service, officer, date, legal
basis). A *hold* keeps one camera's footage over a time range out of the retention purge while it
is active; releasing it takes two different people (one asks, another approves). An *export*
hands footage to the requesting service. Who may do each is decided here, by role (the image
rights themselves are grants, decided by `permissions.decide`), so the web API and the CLI
answer the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guetteur.domain.errors import Forbidden, InvalidInput
from guetteur.domain.permissions import Principal

# A reference as written on the requisition: letters, digits and the usual separators.
_REFERENCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./_\-]{1,62}[A-Za-z0-9]")
CASE_CREATORS = frozenset({"supervisor", "investigator"})
CASE_READERS_ALL = frozenset({"admin", "supervisor", "auditor"})
HOLD_PLACERS = frozenset({"supervisor", "investigator"})
RELEASE_ASKERS = frozenset({"admin", "supervisor", "investigator"})
RELEASE_APPROVERS = frozenset({"admin", "supervisor"})
EXPORTERS = frozenset({"supervisor", "investigator"})
EXPORT_APPROVERS = frozenset({"admin", "supervisor"})
EXPORT_STATES = ("awaiting_approval", "queued", "running", "done", "failed", "cancelled")
FINISHED_STATES = frozenset({"done", "failed", "cancelled"})
LEGAL_BASES = ("art. 60-1 CPP (flagrance)", "art. 77-1-1 CPP (préliminaire)",
               "art. 99-3 CPP (instruction)", "autre")


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need to know of a case."""

    id: int
    reference: str
    created_by: str
    closed: bool = False


def check_reference(reference: str) -> str:
    ref = " ".join((reference or "").split())
    if not _REFERENCE_RE.fullmatch(ref):
        raise InvalidInput(
            "Référence de réquisition invalide : 3 à 64 caractères, lettres, chiffres, espaces "
            "et . / _ - (exemple : PV 2026/01234).", "reference")
    return ref


def check_text(value: str | None, field: str, label: str, max_len: int,
               required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"{label} : champ obligatoire.", field)
        return None
    if len(text) > max_len:
        raise InvalidInput(f"{label} : {max_len} caractères au plus.", field)
    return text


def check_range(from_us: int, to_us: int, now_us: int, max_s: int | None = None) -> None:
    if to_us <= from_us:
        raise InvalidInput("La fin de la période doit être après son début.", "to")
    if from_us > now_us:
        raise InvalidInput("La période commence dans le futur.", "from")
    if max_s is not None and to_us - from_us > max_s * 1_000_000:
        raise InvalidInput(f"Période trop longue : {max_s // 3600} h au plus par extraction.",
                           "to")


def can_create_case(who: Principal) -> bool:
    return who.enabled and who.role in CASE_CREATORS


def can_see_case(who: Principal, case: CaseFacts) -> bool:
    if not who.enabled:
        return False
    if who.role in CASE_READERS_ALL:
        return True
    return who.role == "investigator" and case.created_by == who.username


def _own_or_supervisor(who: Principal, case: CaseFacts) -> bool:
    return who.role != "investigator" or case.created_by == who.username


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise Forbidden(message)


def check_can_place_hold(who: Principal, case: CaseFacts) -> None:
    require(who.enabled and who.role in HOLD_PLACERS and _own_or_supervisor(who, case),
            "Seuls un superviseur ou l'enquêteur de la réquisition peuvent geler des images.")
    if case.closed:
        raise Forbidden(f"La réquisition {case.reference} est close : rouvrez-en une nouvelle.")


def check_can_ask_release(who: Principal, case: CaseFacts) -> None:
    require(who.enabled and who.role in RELEASE_ASKERS and _own_or_supervisor(who, case),
            "Vous ne pouvez pas demander la levée de ce gel.")


def check_can_approve_release(who: Principal, asked_by: str | None) -> None:
    """Four eyes: the approver is a supervisor or an administrator other than the asker."""
    if asked_by is None:
        raise Forbidden("Aucune demande de levée en attente pour ce gel.")
    require(who.enabled and who.role in RELEASE_APPROVERS,
            "Seuls un superviseur ou un administrateur approuvent la levée d'un gel.")
    if who.username == asked_by:
        raise Forbidden("Double validation : la levée doit être approuvée par une autre "
                        f"personne que celle qui l'a demandée ({asked_by}).")


def check_can_export(who: Principal, case: CaseFacts) -> None:
    require(who.enabled and who.role in EXPORTERS and _own_or_supervisor(who, case),
            "Seuls un superviseur ou l'enquêteur de la réquisition peuvent extraire des images.")
    if case.closed:
        raise Forbidden(f"La réquisition {case.reference} est close.")


def check_can_approve_export(who: Principal, requested_by: str) -> None:
    require(who.enabled and who.role in EXPORT_APPROVERS,
            "Seuls un superviseur ou un administrateur approuvent une extraction.")
    if who.username == requested_by:
        raise Forbidden("Double validation : l'extraction doit être approuvée par une autre "
                        f"personne que celle qui l'a demandée ({requested_by}).")


@dataclass(frozen=True)
class HoldSpan:
    camera_id: int
    start_utc_us: int
    end_utc_us: int


def overlaps(start_a: int, end_a: int, start_b: int, end_b: int) -> bool:
    """Half-open ranges [a) and [b) share at least one instant."""
    return start_a < end_b and start_b < end_a


def held(start_utc_us: int, end_utc_us: int, holds: list[HoldSpan]) -> bool:
    """Does any active hold cover any part of this segment?"""
    return any(overlaps(start_utc_us, end_utc_us, h.start_utc_us, h.end_utc_us) for h in holds)
