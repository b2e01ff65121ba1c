"""Plate text rules: normalisation of OCR reads (French formats, look-alikes fixed by position),
folding, weighted distance, query patterns and voting."""

from __future__ import annotations

import pytest

from guetteur.domain.errors import InvalidInput
from guetteur.domain.plates import (
    NEAR,
    PlateText,
    Run,
    compact,
    distance,
    fold,
    matches,
    near,
    normalise,
    parse_query,
    pattern_distance,
    vote,
)


@pytest.mark.parametrize("raw, expected", [
    ("ab-123-cd", "AB123CD"), (" AB 123.CD\n", "AB123CD"), ("é-1_2", "12"), ("", ""),
])
def test_compact_keeps_letters_and_digits_in_upper_case(raw: str, expected: str) -> None:
    assert compact(raw) == expected


# raw OCR output -> (display, compact, kind, corrected)
NORMALISED = [
    # SIV, any case and separators
    ("AB-123-CD", ("AB-123-CD", "AB123CD", "siv", 0)),
    ("ab123cd", ("AB-123-CD", "AB123CD", "siv", 0)),
    ("Ab 123 cD", ("AB-123-CD", "AB123CD", "siv", 0)),
    ("AB.123.CD", ("AB-123-CD", "AB123CD", "siv", 0)),
    ("WW-123-AB", ("WW-123-AB", "WW123AB", "siv", 0)),  # temporary series
    # look-alikes at digit positions: O/Q/D -> 0, I/L -> 1, B -> 8, S -> 5, Z -> 2, G -> 6
    ("AB-1O3-CD", ("AB-103-CD", "AB103CD", "siv", 1)),
    ("AB-I2Q-CD", ("AB-120-CD", "AB120CD", "siv", 2)),
    ("AB-SZG-CD", ("AB-526-CD", "AB526CD", "siv", 3)),
    ("AB-L2B-CD", ("AB-128-CD", "AB128CD", "siv", 2)),
    # at letter positions: 0/O -> D (O is no plate letter), 1/I -> L, 8 -> B, 5 -> S,
    # 2 -> Z, 6 -> G, U -> V
    ("0B-123-CD", ("DB-123-CD", "DB123CD", "siv", 1)),
    ("AB-123-C0", ("AB-123-CD", "AB123CD", "siv", 1)),
    ("OB-123-CD", ("DB-123-CD", "DB123CD", "siv", 1)),
    ("A8-123-1D", ("AB-123-LD", "AB123LD", "siv", 2)),
    ("AB-123-I5", ("AB-123-LS", "AB123LS", "siv", 2)),
    ("26-123-CD", ("ZG-123-CD", "ZG123CD", "siv", 2)),
    ("AU-123-CD", ("AV-123-CD", "AV123CD", "siv", 1)),
    ("Q8-123-CD", ("QB-123-CD", "QB123CD", "siv", 1)),  # Q is a plate letter: kept
    # FNI
    ("123 ABC 45", ("123 ABC 45", "123ABC45", "fni", 0)),
    ("123abc45", ("123 ABC 45", "123ABC45", "fni", 0)),
    ("1 A 01", ("1 A 01", "1A01", "fni", 0)),
    ("9999-XYZ-95", ("9999 XYZ 95", "9999XYZ95", "fni", 0)),
    ("12 AB 2A", ("12 AB 2A", "12AB2A", "fni", 0)),           # Corsica
    ("12 AB 2B", ("12 AB 2B", "12AB2B", "fni", 0)),
    ("12 AB 28", ("12 AB 28", "12AB28", "fni", 0)),           # Eure-et-Loir, not Corsica
    ("123 AB 974", ("123 AB 974", "123AB974", "fni", 0)),     # La Réunion
    ("I23 A8C 4S", ("123 ABC 45", "123ABC45", "fni", 3)),     # look-alikes by position
    ("12 AB Z8", ("12 AB 28", "12AB28", "fni", 1)),
    # foreign, or no French format within 3 fixes: kept as read
    ("M AB 1234", ("MAB1234", "MAB1234", "foreign", 0)),      # German
    ("1-ABC-123", ("1ABC123", "1ABC123", "foreign", 0)),      # Belgian
    ("SS-123-AB", ("SS123AB", "SS123AB", "foreign", 0)),      # SS is no SIV block
    ("AB-000-CD", ("AB000CD", "AB000CD", "foreign", 0)),      # 000 is no SIV number
    ("123 AB 20", ("123AB20", "123AB20", "foreign", 0)),      # 20 is no department
    ("08-OB8-C0", ("08OB8C0", "08OB8C0", "foreign", 0)),      # would need 4 fixes
    ("AB12", ("AB12", "AB12", "foreign", 0)),
]


@pytest.mark.parametrize("raw, expected", NORMALISED, ids=[r for r, _ in NORMALISED])
def test_normalise(raw: str, expected: tuple[str, str, str, int]) -> None:
    assert normalise(raw) == PlateText(*expected)


@pytest.mark.parametrize("raw", ["", "-- .", "AB1", "ABC12345678", "A"])
def test_not_a_plate(raw: str) -> None:
    assert normalise(raw) is None


def test_siv_before_fni_when_both_fit_with_as_few_fixes() -> None:
    # 7 characters, both readings need 2 fixes: SIV wins
    got = normalise("1B12366")
    assert got is not None and got.kind == "siv" and got.display == "LB-123-GG"


def test_fold_maps_each_look_alike_class_to_one_symbol() -> None:
    assert fold("0OQD 1IL 8B 5S 2Z 6G") == "0000 111 88 55 22 66"
    assert fold("AB123CD") == "A8123C0"
    assert fold("AC*?") == "AC*?"
    assert fold("AB-123-CQ") == fold("A8-I23-C0")


@pytest.mark.parametrize("a, b, expected", [
    ("AB123CD", "AB123CD", 0.0),
    ("AB123CD", "A8123CD", NEAR),         # look-alike: near
    ("AB123CD", "AB123CQ", NEAR),
    ("AB123CD", "A8I23C0", 3 * NEAR),
    ("AB123CD", "AX123CD", 1.0),          # other substitution
    ("AB123CD", "AB12CD", 1.0),           # deletion
    ("AB123CD", "AB1234CD", 1.0),         # insertion
    ("AB123CD", "AX124CD", 2.0),
    ("AB123CD", "AX123CQ", 1.5),
    ("", "ABC", 3.0),
])
def test_distance(a: str, b: str, expected: float) -> None:
    assert distance(a, b) == expected
    assert distance(b, a) == expected


def test_near() -> None:
    assert near("0", "D") and near("I", "1") and near("Z", "2") and near("G", "6")
    assert not near("A", "A") and not near("A", "4") and not near("U", "V")


@pytest.mark.parametrize("typed, pattern, wildcard", [
    ("AB-1*", "AB1*", True),
    ("ab-1*", "AB1*", True),
    ("?B-12?-C?", "?B12?C?", True),
    ("*-123-*", "*123*", True),
    ("AB**1", "AB*1", True),
    ("ab 123 cd", "AB123CD", False),
    ("A8-I23-CD", "AB123CD", False),  # a whole plate is normalised like a read
])
def test_parse_query(typed: str, pattern: str, wildcard: bool) -> None:
    q = parse_query(typed)
    assert (q.pattern, q.wildcard) == (pattern, wildcard)
    assert (q.plate is None) == wildcard


def test_query_parts_the_index_needs() -> None:
    q = parse_query("AB-1*")
    assert (q.prefix, q.suffix, q.fixed_length, q.like(), q.like(folded=True)) == (
        "A81", "", None, "AB1%", "A81%")
    q = parse_query("?B-12?-C?")
    assert (q.prefix, q.suffix, q.fixed_length) == ("", "", 7)
    assert q.runs() == [Run("812", 1, 1), Run("C", 5, 5)]
    assert q.like() == "_B12_C_"
    q = parse_query("*-123-*")
    assert q.runs() == [Run("123", 0, None)]
    q = parse_query("A?*-CD")
    assert (q.prefix, q.suffix, q.runs()) == ("A", "C0", [Run("A", 0, 0), Run("C0", 2, None)])


@pytest.mark.parametrize("typed", ["", "-*-", "??", "AB1", "ABCDEFGHJKL*", "AB-123-CD-EF-GH"])
def test_invalid_queries(typed: str) -> None:
    with pytest.raises(InvalidInput):
        parse_query(typed)


@pytest.mark.parametrize("pattern, text, expected", [
    ("AB1*", "AB123CD", 0.0),
    ("AB1*", "AB1", 0.0),                 # * may be empty
    ("AB1*", "A8123CD", NEAR),            # look-alike
    ("AB1*", "AX123CD", None),
    ("?B12?C?", "AB123CD", 0.0),
    ("?B12?C?", "AB123C", None),          # ? is exactly one character
    ("*123*", "123ABC45", 0.0),
    ("*123*", "AB124CD", None),
    ("*123*", "ABI23CD", NEAR),
])
def test_pattern_distance_and_matches(pattern: str, text: str, expected: float | None) -> None:
    assert pattern_distance(pattern, text) == expected
    assert matches(pattern, text) == (expected == 0.0)


def test_vote_takes_each_position_by_confidence() -> None:
    text, conf = vote([("AB123CD", 0.9), ("A8123CD", 0.6), ("AB123CD", 0.8)])
    assert text == "AB123CD"
    assert 0 < conf < 0.9


def test_vote_of_identical_reads_keeps_their_confidence() -> None:
    assert vote([("AB123CD", 0.8)]) == ("AB123CD", 0.8)
    text, conf = vote([("AB123CD", 0.8)] * 3)
    assert text == "AB123CD" and conf == pytest.approx(0.8)


def test_vote_uses_the_majority_length() -> None:
    text, conf = vote([("AB12CD", 0.99), ("AB123CD", 0.7), ("AB123CD", 0.6)])
    assert text == "AB123CD"
    assert conf < 0.7


def test_vote_mixes_positions_from_different_reads() -> None:
    text, _ = vote([("AB1Z3CD", 0.9), ("A8123CD", 0.8), ("AB123C0", 0.7), ("AX123CD", 0.5)])
    assert text == "AB123CD"


def test_vote_disagreement_goes_to_the_more_confident_read() -> None:
    assert vote([("AB123CD", 0.5), ("AB123CQ", 0.6)])[0] == "AB123CQ"


def test_vote_needs_a_read() -> None:
    with pytest.raises(ValueError):
        vote([])


def test_the_fast_path_for_clean_reads_agrees_with_the_full_search() -> None:
    import random

    from guetteur.domain.plates import _best_reading

    rng = random.Random(5)
    alphabet = "ABCDEFGHJKLMNPQRSTVWXYZ0123456789IOU"
    samples = ["AB123CD", "123ABC45", "12AB2A", "1AB971", "SS123AB", "AB000CD"]
    letters, digits = "ABCDEFGHJKLMNPQRSTVWXYZ", "0123456789"
    for _ in range(3000):
        samples.append("".join(rng.choice(alphabet) for _ in range(rng.randint(4, 10))))
        samples.append("".join(rng.choice(digits) for _ in range(rng.randint(1, 4)))
                       + "".join(rng.choice(letters) for _ in range(rng.randint(1, 3)))
                       + rng.choice(["75", "2A", "2B", "974", "20", "979", "00", "7S"]))
    for c in samples:
        assert normalise(c) == _best_reading(c), c
