"""The rules of cases, holds and exports (domain/cases.py), as tables."""

from __future__ import annotations

import pytest

from guetteur.domain.cases import (
    CaseFacts,
    HoldSpan,
    can_see_case,
    check_can_approve_export,
    check_can_approve_release,
    check_can_export,
    check_can_place_hold,
    check_range,
    check_reference,
    held,
)
from guetteur.domain.errors import Forbidden, InvalidInput
from guetteur.domain.permissions import Principal

CASE = CaseFacts(1, "PV 2026/1", created_by="enq")


def who(role: str, name: str = "x", enabled: bool = True) -> Principal:
    return Principal(1, name, role, enabled)


@pytest.mark.parametrize(("start", "end", "expected"), [
    (0, 100, False),      # ends exactly where the hold starts: [0,100) and [100,200) are apart
    (0, 101, True),       # one microsecond inside
    (150, 160, True),     # inside
    (199, 300, True),     # starts in the last microsecond
    (200, 300, False),    # starts exactly where the hold ends
    (50, 250, True),      # covers the hold
])
def test_a_segment_is_held_when_any_instant_of_it_is(start: int, end: int,
                                                      expected: bool) -> None:
    holds = [HoldSpan(1, 100, 200)]
    assert held(start, end, holds) is expected
    assert held(start, end, []) is False


@pytest.mark.parametrize("ref", ["PV 2026/01234", "2026-118-77", "RJ.77/2026_b"])
def test_references_accepted(ref: str) -> None:
    assert check_reference(f"  {ref} ") == ref


@pytest.mark.parametrize("ref", ["", "x", "a" * 65, "PV<script>", "-PV1", "PV 1;2"])
def test_references_refused(ref: str) -> None:
    with pytest.raises(InvalidInput):
        check_reference(ref)


def test_who_sees_a_case() -> None:
    assert can_see_case(who("supervisor"), CASE)
    assert can_see_case(who("auditor"), CASE)
    assert can_see_case(who("admin"), CASE)
    assert can_see_case(who("investigator", "enq"), CASE)
    assert not can_see_case(who("investigator", "other"), CASE)
    assert not can_see_case(who("operator"), CASE)
    assert not can_see_case(who("landlord"), CASE)
    assert not can_see_case(who("supervisor", enabled=False), CASE)


def test_four_eyes_for_a_release() -> None:
    check_can_approve_release(who("supervisor", "b"), asked_by="a")
    check_can_approve_release(who("admin", "b"), asked_by="a")
    with pytest.raises(Forbidden, match="autre personne"):
        check_can_approve_release(who("supervisor", "a"), asked_by="a")
    with pytest.raises(Forbidden):
        check_can_approve_release(who("investigator", "b"), asked_by="a")
    with pytest.raises(Forbidden, match="Aucune demande"):
        check_can_approve_release(who("supervisor", "b"), asked_by=None)


def test_four_eyes_for_an_export_and_who_exports() -> None:
    check_can_approve_export(who("supervisor", "b"), requested_by="a")
    with pytest.raises(Forbidden):
        check_can_approve_export(who("supervisor", "a"), requested_by="a")
    check_can_export(who("investigator", "enq"), CASE)
    check_can_export(who("supervisor"), CASE)
    for role in ("operator", "auditor", "landlord", "admin"):
        with pytest.raises(Forbidden):
            check_can_export(who(role), CASE)
    with pytest.raises(Forbidden):
        check_can_export(who("investigator", "other"), CASE)
    with pytest.raises(Forbidden, match="close"):
        check_can_place_hold(who("supervisor"), CaseFacts(1, "PV 1", "enq", closed=True))


def test_ranges() -> None:
    check_range(0, 10, 100)
    with pytest.raises(InvalidInput):
        check_range(10, 10, 100)
    with pytest.raises(InvalidInput):
        check_range(200, 300, 100)
    with pytest.raises(InvalidInput):
        check_range(0, 2 * 3600 * 1_000_000, 10**13, max_s=3600)
