"""Candidate keys of a plate search: which `plate_key` rows may match a pattern or lie within
k edits of a query, read through the key indexes (`folded`, `folded_rev`, `plate_gram`).

Why these indexes and how each query uses them: see `services/plate_search.py`. Every
function here returns a superset of the keys that match; the caller checks the passages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from guetteur.adapters.db.models import PlateGram, PlateKey
from guetteur.domain.plates import Query

GRAM_STARTS = 16  # trigram starts 0..15: plates have at most 10 characters
FOLDED_SYMBOLS = "0123456789ACEFHJKMNPRTUVWXY"  # what fold() leaves: 10 digits, 17 letters
_SYMBOL = {c: i for i, c in enumerate(FOLDED_SYMBOLS)}


def trigram(tri: str) -> int:
    a, b, c = (_SYMBOL[x] for x in tri)
    return (a * len(FOLDED_SYMBOLS) + b) * len(FOLDED_SYMBOLS) + c


def gram_codes(folded: str) -> list[int]:
    """The `plate_gram` codes of a folded text: each trigram with where it starts."""
    return sorted({trigram(folded[i:i + 3]) * GRAM_STARTS + i for i in range(len(folded) - 2)})


def _upper(prefix: str) -> str:
    """The smallest text greater than every text starting with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def in_ids(s: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """`column IN (ids)` for a list of candidate key ids, as one parameter: a thousand bound
    parameters cost more to render, send and plan than the lookups themselves (PostgreSQL:
    37 ms against 18 at the median for 1,200 keys, and a longer tail). PostgreSQL gets an
    array (`= ANY(:ids)`), SQLite a JSON list (`IN (SELECT value FROM json_each(:ids))`)."""
    condition: ColumnElement[bool]
    if s.get_bind().dialect.name == "postgresql":
        condition = column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    else:
        values = func.json_each(json.dumps(list(ids))).table_valued("value")
        condition = column.in_(select(values.c.value))
    return condition


def _texts(s: Session, column: Any, *where: ColumnElement[bool]) -> list[str]:
    """`column` of the rows matching `where`, aggregated into one string in SQL: one row to
    fetch instead of thousands (rows cost more in Python than in the database)."""
    joined = s.execute(select(func.aggregate_strings(column, ",")).where(*where)).scalar()
    return joined.split(",") if joined else []


def prefix_range(column: Any, prefix: str) -> ColumnElement[bool]:
    return and_(column >= prefix, column < _upper(prefix))


def gram_keys(run: str, start_min: int, start_max: int | None) -> Select[tuple[int]]:
    """Keys holding the trigram `run` (3 folded characters) starting in the range."""
    code = trigram(run) * GRAM_STARTS
    hi = GRAM_STARTS - 1 if start_max is None else min(start_max, GRAM_STARTS - 1)
    return select(PlateGram.key_id).where(PlateGram.code.between(code + start_min, code + hi))


def pattern_keys(q: Query) -> Select[tuple[int]] | None:
    """Ids of candidate keys for the pattern, through the most selective index it allows;
    None when none helps (too few known characters: at 10 million reads, scanning every key
    and its passages is too slow). Prefix and suffix candidates are checked with LIKE on
    `folded`; trigram candidates are not (that needs `plate_key`), their passages are."""
    like = PlateKey.folded.like(q.like(folded=True))
    prefix, suffix = q.prefix, q.suffix
    runs = [r for r in q.runs() if len(r.folded) >= 3]
    # known characters the index narrows by; a prefix before a trigram at the same place
    options: list[tuple[float, Select[tuple[int]]]] = []
    if len(prefix) >= 2:
        options.append((len(prefix) + 0.6,
                        select(PlateKey.id).where(prefix_range(PlateKey.folded, prefix), like)))
    if len(suffix) >= 2:
        options.append((len(suffix) + 0.5, select(PlateKey.id).where(
            prefix_range(PlateKey.folded_rev, suffix[::-1]), like)))
    for run in runs:
        # the rarest trigram of a long run cannot be told apart here: take the first
        fixed = run.start_max is not None
        options.append((3.5 if fixed else 3.0,
                        gram_keys(run.folded[:3], run.start_min, run.start_max)))
    if not options:
        return None
    return max(options, key=lambda o: o[0])[1]


def _pieces(text: str, n: int) -> list[str]:
    """`text` cut into n consecutive pieces of near-equal length (none empty)."""
    cuts = [round(i * len(text) / n) for i in range(n + 1)]
    return [text[cuts[i]:cuts[i + 1]] for i in range(n)]


def fuzzy_candidates(s: Session, fq: str, k: int) -> set[str]:
    """Folded texts of the candidate keys for a fuzzy search: every key within k edits of the
    folded query starts with its prefix piece, ends with its suffix piece, or holds its
    middle piece within k of its place (k + 1 pieces, each edit spoils at most one).

    A key that kept the prefix P of `fq` = P + R is within k of it exactly when its rest is
    within k of R (a common prefix changes no edit distance), so its rest holds one of k + 1
    pieces of R: `LIKE 'P%piece%'` says so in SQL, and keeps about a fifth of the prefix
    range out of Python; the same for the suffix. Texts only, read from the indexes alone
    (`folded`, `folded_rev`); the ids of the few that pass are looked up afterwards."""
    n = len(fq)
    middle = 0 if k == 1 else min(3, n - 2)
    a = (n - middle) // 2
    prefix, mid, suffix = fq[:a], fq[a:a + middle], fq[a + middle:]

    def rest_holds_a_piece(column: Any, head: str, rest: str) -> ColumnElement[bool]:
        """`column` starts with `head`, then holds a piece of `rest` somewhere after it."""
        if len(rest) <= k:
            return literal(True)
        return or_(*(column.like(f"{head}%{p}%") for p in _pieces(rest, k + 1)))

    # the suffix side on folded_rev, reversed: both read from their index alone
    rev = fq[::-1]
    found = set(_texts(s, PlateKey.folded, prefix_range(PlateKey.folded, prefix),
                       rest_holds_a_piece(PlateKey.folded, prefix, fq[a:])))
    found.update(f[::-1] for f in _texts(
        s, PlateKey.folded_rev, prefix_range(PlateKey.folded_rev, rev[:len(suffix)]),
        rest_holds_a_piece(PlateKey.folded_rev, rev[:len(suffix)], rev[len(suffix):])))
    if len(mid) == 3:
        grams = gram_keys(mid, max(0, a - k), a + k)
        if s.get_bind().dialect.name == "postgresql":  # ids first: see in_ids
            ids = list(s.execute(grams).scalars())
            found.update(_texts(s, PlateKey.folded, in_ids(s, PlateKey.id, ids)) if ids else [])
        else:  # SQLite probes plate_key by rowid for each id of the subquery
            found.update(_texts(s, PlateKey.folded, PlateKey.id.in_(grams)))
    elif mid:  # a short query: its 2-character middle has no index, scan the keys
        found.update(_texts(s, PlateKey.folded, PlateKey.folded.like(f"%{mid}%")))
    return found
