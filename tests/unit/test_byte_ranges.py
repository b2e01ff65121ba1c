"""The one HTTP Range parser (RFC 9110 §14): every form a client (or an attacker) may send, and
what Guetteur answers — 206 with one range, 200 with the whole file (invalid, multiple ranges,
If-Range not matching, not GET/HEAD) or 416."""

from __future__ import annotations

import pytest

from guetteur.web.byte_ranges import Plan, Spec, parse_range, plan

SIZE = 1000
ETAG = '"3e8-17d"'
LAST_MODIFIED = "Wed, 25 Nov 2026 20:30:00 GMT"


def served(header: str | None, method: str = "GET", if_range: str | None = None,
           size: int = SIZE) -> tuple[int, int, int]:
    p = plan(size_bytes=size, method=method, range_header=header, if_range=if_range,
             etag=ETAG, last_modified=LAST_MODIFIED)
    return p.status, p.first, p.last


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-", (206, 0, 999)),
    ("bytes=0-499", (206, 0, 499)),
    ("bytes=500-999", (206, 500, 999)),
    ("bytes=1-", (206, 1, 999)),
    ("bytes=00-", (206, 0, 999)),          # leading zeros
    ("bytes=000010-0000020", (206, 10, 20)),
    ("bytes= 0-", (206, 0, 999)),          # whitespace around "=" and elements
    ("bytes =0-9", (206, 0, 9)),
    ("bytes=0-9 ", (206, 0, 9)),
    ("bytes=\t5-6", (206, 5, 6)),
    ("BYTES=0-9", (206, 0, 9)),            # the unit is case-insensitive
    ("Bytes=0-9", (206, 0, 9)),
    ("bytes=-100", (206, 900, 999)),       # suffix
    ("bytes=-1", (206, 999, 999)),
    ("bytes=-100000000", (206, 0, 999)),   # suffix longer than the file: the whole file
    ("bytes=-" + "9" * 5000, (206, 0, 999)),  # beyond Python's int-parsing limit
    ("bytes=0-100000000", (206, 0, 999)),  # last past the end: clamped
    ("bytes=0-" + "9" * 5000, (206, 0, 999)),
    ("bytes=999-999", (206, 999, 999)),
    ("bytes=5-5", (206, 5, 5)),
    ("bytes=0-0", (206, 0, 0)),
    ("bytes=0-,", (206, 0, 999)),          # empty list elements are skipped
    ("bytes=,0-9", (206, 0, 9)),
    ("bytes= , 3-4 ,", (206, 3, 4)),
])
def test_one_range_is_served_as_206(header: str, expected: tuple[int, int, int]) -> None:
    assert served(header) == expected


@pytest.mark.parametrize("header", [
    "bytes=1000-",            # first at the end
    "bytes=1000-2000",
    "bytes=" + "9" * 40 + "-",
    "bytes=-0",               # a suffix of nothing
    "bytes=-00",
])
def test_a_range_past_the_end_is_416(header: str) -> None:
    assert served(header)[0] == 416


def test_any_range_of_an_empty_file_is_416() -> None:
    assert served("bytes=0-", size=0)[0] == 416
    assert served("bytes=-5", size=0)[0] == 416
    assert served(None, size=0)[0] == 200


@pytest.mark.parametrize("header", [
    "", "bytes", "bytes=", "bytes=-", "bytes=--1", "bytes=a-b", "bytes=0x10-",
    "bytes=1-a", "bytes=+1-", "bytes=-+1", "bytes=1 -2", "bytes=1- 2", "bytes=5-4",
    "bytes=10-0", "bytes=1.5-", "bytes=٣-", "bytes=¹-", "bytes=1-2-3", "bytes=0-9;x",
    "items=0-9", "byte=0-9", "bytes0-9", "=0-9", "bytes x=0-9", "bytes=0-9, 5-x",
    "bytes=\u00a00-9", "none", "bytes=,", "bytes= , ",
])
def test_an_invalid_range_header_is_ignored(header: str) -> None:
    """Served whole (200), as RFC 9110 allows; never a 5xx, never an error the gate could
    read differently from the server."""
    assert served(header) == (200, 0, 999)


@pytest.mark.parametrize("header", [
    "bytes=0-9,20-29", "bytes=0-0,-1", "bytes=0-,0-", "bytes=1-2, 3-4, 5-6",
    "bytes=0-9," + ",".join(f"{i}-{i}" for i in range(10, 500)),
    "bytes=2000-3000,0-1",     # one unsatisfiable, one not: still the whole file
])
def test_multiple_ranges_get_the_whole_file(header: str) -> None:
    p = plan(size_bytes=SIZE, method="GET", range_header=header)
    assert (p.status, p.first, p.last, p.why) == (200, 0, 999, "multiple ranges ignored")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_range_is_only_for_get_and_head(method: str) -> None:
    assert served("bytes=0-9", method=method) == (200, 0, 999)
    assert served("bytes=0-9", method="HEAD") == (206, 0, 9)


@pytest.mark.parametrize(("if_range", "status"), [
    (ETAG, 206),
    (f" {ETAG} ", 206),
    ('"other"', 200),
    (f"W/{ETAG}", 200),          # a weak tag never matches (strong comparison)
    (LAST_MODIFIED, 206),
    ("Wed, 25 Nov 2026 20:30:01 GMT", 200),
    ("Wednesday, 25-Nov-26 20:30:00 GMT", 206),  # the obsolete RFC 850 form, same instant
    ("not a date", 200),
    ("", 200),
])
def test_if_range_applies_the_range_only_when_the_file_is_unchanged(if_range: str,
                                                                    status: int) -> None:
    assert served("bytes=10-19", if_range=if_range)[0] == status
    assert served(None, if_range=if_range)[0] == 200  # If-Range alone changes nothing


def test_if_range_not_matching_serves_the_whole_file_even_for_an_unsatisfiable_range() -> None:
    assert served("bytes=5000-", if_range='"other"') == (200, 0, 999)


def test_parse_range_gives_the_specs_as_written() -> None:
    assert parse_range("bytes=0-9, -5 ,7-") == [Spec(0, 9), Spec(None, 5), Spec(7, None)]
    assert parse_range(None) is None
    assert parse_range("bytes=9-0") is None


def test_a_plan_describes_itself_for_the_audit_trail() -> None:
    assert Plan(200, 0, 999, SIZE, "no range").describe() == "all"
    assert plan(size_bytes=SIZE, method="GET", range_header="bytes=-10").describe() == (
        "990-999/1000")
    assert plan(size_bytes=SIZE, method="GET", range_header="bytes=5000-").describe() == (
        "unsatisfiable/1000")
    assert plan(size_bytes=SIZE, method="GET", range_header="bytes=1-").length_bytes == 999
    assert plan(size_bytes=SIZE, method="GET", range_header=None).length_bytes == SIZE
