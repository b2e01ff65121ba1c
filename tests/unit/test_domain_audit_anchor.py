"""Signed checkpoints compared with the trail (the pure part): a checkpoint missing, replaced or
altered breaks the sequence; the newest events deleted, all events deleted, or the chain
recomputed are named against the checkpoints; the newest checkpoint's age and the events not
yet anchored are reported."""

from __future__ import annotations

from dataclasses import replace

import pytest

from guetteur.domain.audit import GENESIS
from guetteur.domain.audit_anchor import (
    Checkpoint,
    age_text,
    check_sequence,
    following,
    judge,
    summary,
)

T0 = 1_795_638_600_000_000
S = 1_000_000


def trail(n: int) -> dict[int, str]:
    """id -> hash of a trail of n events (ids 1..n)."""
    return {i: f"{i:064x}" for i in range(1, n + 1)}


def checkpoints(hashes: dict[int, str], at_ids: list[int]) -> list[Checkpoint]:
    """#1 over the empty trail, then one at each of `at_ids`, a minute apart."""
    cps = [following(None, T0, 0, 0, GENESIS)]
    for k, last in enumerate(at_ids, 1):
        cps.append(following(cps[-1], T0 + k * 60 * S, last, last, hashes[last]))
    return cps


def lookup(hashes: dict[int, str]):  # type: ignore[no-untyped-def]
    def event_at(event_id: int) -> tuple[str | None, int]:
        return hashes.get(event_id), sum(1 for i in hashes if i <= event_id)
    return event_at


def run(cps: list[Checkpoint], hashes: dict[int, str], now_us: int | None = None):  # type: ignore[no-untyped-def]
    entries = [(cp.seq, cp, None) for cp in cps]
    valid, problem = check_sequence(entries)
    return judge(valid, problem, len(hashes), max(hashes, default=0), lookup(hashes),
                 now_us if now_us is not None else cps[-1].at_utc_us)


def test_an_intact_trail_agrees_with_its_checkpoints() -> None:
    hashes = trail(120)
    verdict = run(checkpoints(hashes, [60, 120]), hashes, T0 + 2 * 60 * S + 7 * 60 * S)
    assert verdict.ok and verdict.problem is None
    assert verdict.newest is not None and verdict.newest.seq == 3
    assert verdict.age_s == 420 and verdict.unanchored_events == 0
    assert "n° 3, il y a 7 min, 120 événements jusqu'au n° 120" in summary(verdict)


def test_events_written_after_the_newest_checkpoint_are_reported_as_not_anchored() -> None:
    hashes = trail(125)
    verdict = run(checkpoints(hashes, [60, 120]), hashes)
    assert verdict.ok and verdict.unanchored_events == 5
    assert "5 événement(s) écrit(s) depuis, pas encore ancré(s)" in summary(verdict)


@pytest.mark.parametrize(("deleted", "words"), [
    (1, "1 événement manquant après le point de contrôle n° 2 : le journal s'arrête au n° "
        "119, avant le point de contrôle n° 3 ; l'événement n° 120 a été supprimé"),
    (50, "50 événements manquants après le point de contrôle n° 2 : le journal s'arrête au "
         "n° 70, avant le point de contrôle n° 3 ; les événements n° 71 à 120 ont été "
         "supprimés"),
    (80, "80 événements manquants après le point de contrôle n° 1 : le journal s'arrête au "
         "n° 40, avant le point de contrôle n° 2 ; les événements n° 41 à 120"),
])
def test_deleted_newest_events_are_named(deleted: int, words: str) -> None:
    hashes = trail(120)
    cps = checkpoints(hashes, [60, 120])
    for i in range(121 - deleted, 121):
        del hashes[i]
    verdict = run(cps, hashes)
    assert not verdict.ok
    assert verdict.problem is not None and words in verdict.problem


def test_an_empty_trail_with_checkpoints_is_all_events_deleted() -> None:
    cps = checkpoints(trail(120), [60, 120])
    verdict = run(cps, {})
    assert not verdict.ok and verdict.problem is not None
    assert ("journal vide alors que le point de contrôle n° 3 atteste 120 événements "
            "(jusqu'au n° 120) : tous les événements ont été supprimés") in verdict.problem


def test_a_recomputed_chain_does_not_match_the_signed_head() -> None:
    hashes = trail(120)
    cps = checkpoints(hashes, [30, 60, 90, 120])
    rewritten = {i: (h if i < 75 else f"{i + 7:064x}") for i, h in hashes.items()}
    verdict = run(cps, rewritten)
    assert not verdict.ok and verdict.problem is not None
    assert ("l'empreinte du point de contrôle n° 4 ne correspond pas à l'événement n° 90 : "
            "chaîne réécrite (dernier point de contrôle concordant : n° 3)") in verdict.problem


def test_a_deleted_event_inside_the_anchored_part_is_counted() -> None:
    hashes = trail(120)
    cps = checkpoints(hashes, [60, 120])
    del hashes[10]  # the chain walk names the broken link; the checkpoints count it
    verdict = run(cps, hashes)
    assert verdict.problem is not None
    assert "1 événement(s) manquant(s) avant le point de contrôle n° 2" in verdict.problem


def test_a_missing_altered_or_replaced_checkpoint_breaks_the_sequence() -> None:
    hashes = trail(120)
    cps = checkpoints(hashes, [30, 60, 90, 120])
    entries = [(cp.seq, cp, None) for cp in cps]

    valid, problem = check_sequence(entries[:2] + entries[3:])
    assert [c.seq for c in valid] == [1, 2]
    assert problem is not None and "point de contrôle n° 3 manquant" in problem

    valid, problem = check_sequence([*entries[:2], (3, None, "signature invalide"),
                                     *entries[3:]])
    assert problem == "point de contrôle n° 3 altéré : signature invalide"

    other = replace(cps[2], events=29)  # well-formed, but not the one #4 follows
    valid, problem = check_sequence([*entries[:2], (3, other, None), *entries[3:]])
    assert [c.seq for c in valid] == [1, 2]
    assert problem is not None and "n° 3 atteste moins d'événements" in problem

    valid, problem = check_sequence([*entries[:3],
                                     (4, replace(cps[3], prev_digest="0" * 64), None)])
    assert problem is not None and "ne suit pas le n° 3" in problem

    # judged on what is sound: the newest sound checkpoint, and the problem, are reported
    verdict = judge(valid, problem, 120, 120, lookup(hashes), T0)
    assert not verdict.ok and verdict.newest == cps[2]


def test_no_checkpoint_at_all_cannot_prove_the_trail_complete() -> None:
    verdict = judge([], None, 5, 5, lookup(trail(5)), T0)
    assert not verdict.ok and verdict.problem is not None
    assert "aucun point de contrôle" in verdict.problem
    assert verdict.unanchored_events == 5


def test_a_checkpoint_body_is_canonical_and_parsed_back() -> None:
    cp = following(None, T0, 3, 7, "a" * 64, legacy_until_id=7)
    import json

    assert Checkpoint.from_body(json.loads(cp.body())) == cp
    assert cp.body() == following(None, T0, 3, 7, "a" * 64, 7).body()
    assert following(cp, T0 + 1, 4, 8, "b" * 64).prev_digest == cp.digest
    with pytest.raises(ValueError, match="format"):
        Checkpoint.from_body({**json.loads(cp.body()), "format": "other"})
    with pytest.raises(ValueError, match="events"):
        Checkpoint.from_body({k: v for k, v in json.loads(cp.body()).items() if k != "events"})


@pytest.mark.parametrize(("seconds", "text"), [(42, "42 s"), (420, "7 min"),
                                               (3 * 3600 + 5 * 60, "3 h 05"),
                                               (2 * 86400 + 4 * 3600, "2 j 4 h")])
def test_ages_read_as_people_say_them(seconds: float, text: str) -> None:
    assert age_text(seconds) == text
