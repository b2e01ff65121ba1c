"""The audit hash chain: any edit, deletion, insertion or reordering is detected and the
first bad event is named."""

from __future__ import annotations

from dataclasses import replace

import pytest

from guetteur.domain.audit import GENESIS, AuditRecord, canonical_detail, event_hash, verify_chain


def chain(n: int) -> list[AuditRecord]:
    records = []
    prev = GENESIS
    for i in range(1, n + 1):
        rec = sealed(i, prev, action="playback" if i % 2 else "login", detail={"n": i},
                     reason=f"PV 2026/{i}" if i % 3 == 0 else None)
        records.append(rec)
        prev = rec.hash
    return records


def sealed(id_: int, prev: str, action: str = "login", detail: dict[str, object] | None = None,
           at: int | None = None, reason: str | None = None) -> AuditRecord:
    at_us = at if at is not None else 1_795_638_600_000_000 + id_ * 1_000_000
    body = canonical_detail(detail or {})
    digest = event_hash(prev, at_us, 1, "alice", action, 3, None, None, "127.0.0.1", body,
                        reason)
    return AuditRecord(id_, at_us, 1, "alice", action, 3, None, None, "127.0.0.1", body,
                       prev, digest, reason)


def test_an_intact_chain_verifies() -> None:
    assert verify_chain(chain(5)) == (5, None, "ok")
    assert verify_chain([]) == (0, None, "ok")


def test_an_edited_field_is_detected_at_that_event() -> None:
    records = chain(5)
    records[2] = replace(records[2], username="mallory")
    count, bad, why = verify_chain(records)
    assert (count, bad) == (3, 3)
    assert "modified" in why


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link() -> None:
    records = chain(5)
    forged = sealed(3, records[1].hash, action="login", detail={"n": "forged"})
    records[2] = forged
    _count, bad, why = verify_chain(records)
    assert bad == 4
    assert "link broken" in why


def test_a_deleted_event_is_detected_at_the_one_after_it() -> None:
    records = chain(5)
    del records[2]
    _, bad, why = verify_chain(records)
    assert bad == 4
    assert "link broken" in why


def test_deleting_the_first_event_is_detected() -> None:
    assert verify_chain(chain(3)[1:])[1] == 2


def test_an_inserted_event_is_detected() -> None:
    records = chain(5)
    # a well-formed event chained to event 2, slipped in before event 3
    intruder = sealed(99, records[1].hash, action="retention_purge")
    records.insert(2, intruder)
    _, bad, _why = verify_chain(records)
    assert bad == 3


def test_reordered_events_are_detected() -> None:
    records = chain(5)
    records[1], records[2] = records[2], records[1]
    _, bad, _why = verify_chain(records)
    assert bad == 3


def test_the_detail_json_is_canonical() -> None:
    assert canonical_detail({"b": 1, "a": "é"}) == '{"a":"é","b":1}'
    assert canonical_detail({"a": 1, "b": 2}) == canonical_detail({"b": 2, "a": 1})


def test_every_field_is_covered_by_the_hash() -> None:
    args = [GENESIS, 1, 2, "u", "login", 3, 4, 5, "127.0.0.1", "{}", "PV 2026/12"]
    base = event_hash(*args)  # type: ignore[arg-type]
    for i in range(len(args)):
        changed = list(args)
        changed[i] = "x" if isinstance(args[i], str) else 999
        assert event_hash(*changed) != base, f"field {i} not hashed"  # type: ignore[arg-type]


def test_an_event_without_reason_keeps_its_pre_0002_hash() -> None:
    """Events written before the `reason` column still verify: no reason, nothing appended
    (the pinned digest is what schema 0001's code computed)."""
    args = [GENESIS, 1, 2, "u", "login", 3, 4, 5, "127.0.0.1", "{}"]
    assert event_hash(*args) == event_hash(*args, None)  # type: ignore[arg-type]
    assert event_hash(*args) == (  # type: ignore[arg-type]
        "0d9eb18f1b219423485f0587c4d0d4f89d3e4e227a6ace82b35ac199b6fd5ac3")
    # an empty reason is a reason: it cannot be confused with none
    assert event_hash(*args, "") != event_hash(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("index", "reason"), [(2, None), (2, "PV 2026/4"), (1, "ajoutée")],
                         ids=["removed", "changed", "added"])
def test_a_reason_edit_is_detected(index: int, reason: str | None) -> None:
    records = chain(5)
    assert (records[1].reason, records[2].reason) == (None, "PV 2026/3")
    records[index] = replace(records[index], reason=reason)
    _, bad, why = verify_chain(records)
    assert bad == index + 1 and "modified" in why
