"""Plate search: find the passages of a vehicle by full plate, wildcard pattern or fuzzy match,
across cameras and a time range; and the inserts the plate reader uses.

Index design (tables in `adapters/db/plate_models.py`). Search runs over passages, but the
index works on **keys**: the distinct folded texts (`fold(compact)`, look-alikes as one
symbol), about 3.4 times fewer than passages in the benchmark since vehicles come back. A key
has
- `folded` (unique b-tree): exact lookups, and prefix ranges (`AB-1*` is `A81 <= folded <
  A82`);
- `folded_rev` (b-tree): suffix ranges (`*-CD`, and fuzzy suffix pieces);
- positional trigrams in `plate_gram` (`code = trigram * 16 + start`, primary key (code,
  key)): a run of 3 known characters at a known start (`?B-12?-C?`: `812` at 1) or anywhere
  (`*-123-*`: `123` at 0..15, one range of codes).
A search is two statements: the candidate keys (through the most selective of these the
pattern allows, checked with LIKE on `folded` in the same SQL), then the passages of those
keys through (key_id, first_utc_us), with the camera and time filters, ranked and limited in
SQL when the order does not need a computed distance. A pattern that none of these helps
(fewer than 2 known characters at the start or the end and no 3 in a row: `*B*`, `A*`) is
refused unless cameras or a time range are given; then (camera_id, first_utc_us) drives.
The time filter also bounds `first_utc_us` from below by `MAX_PASSAGE_US` (passages are
short by construction), so that index serves a range, not everything before `to`.

Fuzzy (up to k = 1 or 2 differences) uses the pigeonhole principle on the folded query split
into k + 1 pieces: a prefix, a suffix, and for k = 2 a 3-character middle. Each edit spoils
at most one piece, so a text within k edits starts with the prefix, ends with the suffix, or
holds the middle within k of its place (insertions and deletions shift it by at most k): a
prefix range, a suffix range and a trigram range (UNION ALL). The candidates (about 7,000
keys for a 7-character plate and k = 2 at 10 million reads) are checked with Levenshtein on
the folded texts (rapidfuzz, in C; a lower bound of the weighted distance, so nothing is
lost), then the passages of the keys left with the weighted `distance` (look-alike 0.5) from
the query as normalised and as typed, which decides.

Alternatives considered (bench/plate_search.py measures the first two in the same run):
- LIKE / = on `display` over the passages: a full scan per query, growing with the reads;
- rapidfuzz over every distinct plate in memory: tens of ms a query at 10 million reads,
  memory in every process, and a cache to keep in step with several writers;
- pg_trgm (GIN) / SQLite FTS5 trigram: one engine each, an extension to install, and no
  fuzzy with look-alikes; the positional trigram table works the same on both;
- anchored blocks (length, block_i) for fuzzy: miss every insertion or deletion (a character
  the OCR dropped or added), which prefix/suffix/shifted-middle pieces catch.

Ranking: exact matches first, then by distance (a look-alike 0.5 before a real difference 1),
then confidence, then newest last read. `Hit.score` is 1 / (1 + distance).

Wildcard queries express the uncertainty themselves: with `fuzzy` >= 1 they also match
look-alikes (0.5 each, up to `fuzzy`), never other differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sqlalchemy import ColumnElement, Select, and_, insert, not_, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.plate_models import PlateGram, PlateKey, PlatePassage, PlateRead
from guetteur.domain.errors import InvalidInput
from guetteur.domain.plates import (
    MAX_PASSAGE_US,
    PlateText,
    Query,
    compact,
    distance,
    fold,
    normalise,
    parse_query,
    pattern_distance,
    vote,
)

MAX_FUZZY = 2
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


@dataclass(frozen=True)
class ReadRow:
    """One OCR read: when, the text as read, the model's confidence (0..1)."""

    at_utc_us: int
    text: str
    confidence: float


@dataclass(frozen=True)
class PassageRow:
    """A passage ready to insert: the voted plate and the reads it came from."""

    camera_id: int
    plate: PlateText
    confidence: float
    reads: tuple[ReadRow, ...]
    crop_key: str | None = None
    case_id: int | None = None
    job_id: int | None = None

    @property
    def first_utc_us(self) -> int:
        return min(r.at_utc_us for r in self.reads)

    @property
    def last_utc_us(self) -> int:
        return max(r.at_utc_us for r in self.reads)


def passage_from_reads(camera_id: int, reads: Sequence[ReadRow], crop_key: str | None = None,
                       case_id: int | None = None, job_id: int | None = None
                       ) -> PassageRow | None:
    """Normalise each read (look-alikes fixed by position), vote, normalise the result.
    None when no read is a plate."""
    read_as = [(r, normalise(r.text)) for r in reads]
    kept = [(r, p) for r, p in read_as if p is not None]
    if not kept:
        return None
    text, confidence = vote([(p.compact, r.confidence) for r, p in kept])
    plate = normalise(text)
    if plate is None:  # the vote keeps a length every voter had: cannot happen
        raise AssertionError(f"voted text {text!r} is not a plate")
    return PassageRow(camera_id, plate, confidence, tuple(r for r, _ in kept), crop_key,
                      case_id, job_id)


def _split_long(row: PassageRow) -> list[PassageRow]:
    if row.last_utc_us - row.first_utc_us <= MAX_PASSAGE_US:
        return [row]
    parts: list[list[ReadRow]] = []
    for r in sorted(row.reads, key=lambda r: r.at_utc_us):
        if not parts or r.at_utc_us - parts[-1][0].at_utc_us > MAX_PASSAGE_US:
            parts.append([])
        parts[-1].append(r)
    out = [passage_from_reads(row.camera_id, p, row.crop_key, row.case_id, row.job_id)
           for p in parts]
    return [p for p in out if p is not None]


@dataclass(frozen=True)
class Hit:
    """A passage found by a search, with how far its plate is from the query."""

    passage_id: int
    camera_id: int
    first_utc_us: int
    last_utc_us: int
    display: str
    compact: str
    kind: str
    confidence: float
    reads: int
    crop_key: str | None
    case_id: int | None
    job_id: int | None
    distance: float
    score: float


_P = PlatePassage
_HIT_COLUMNS = (_P.id, _P.camera_id, _P.first_utc_us, _P.last_utc_us, _P.display, _P.compact,
                _P.kind, _P.confidence, _P.reads, _P.crop_key, _P.case_id, _P.job_id)


def _hit(row: Any, dist: float) -> Hit:
    return Hit(row.id, row.camera_id, row.first_utc_us, row.last_utc_us, row.display,
               row.compact, row.kind, row.confidence, row.reads, row.crop_key, row.case_id,
               row.job_id, distance=dist, score=1.0 / (1.0 + dist))


def _rank(hit: Hit) -> tuple[float, float, int]:
    return (hit.distance, -hit.confidence, -hit.last_utc_us)


@dataclass(frozen=True)
class _Filter:
    camera_ids: tuple[int, ...] | None
    from_utc_us: int | None
    to_utc_us: int | None

    @property
    def given(self) -> bool:
        return (self.camera_ids is not None or self.from_utc_us is not None
                or self.to_utc_us is not None)

    def where(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.camera_ids is not None:
            out.append(_P.camera_id.in_(self.camera_ids))
        if self.from_utc_us is not None:
            # the bound on first_utc_us lets (camera_id, first_utc_us) serve a range
            out.append(_P.first_utc_us >= self.from_utc_us - MAX_PASSAGE_US)
            out.append(_P.last_utc_us >= self.from_utc_us)
        if self.to_utc_us is not None:
            out.append(_P.first_utc_us <= self.to_utc_us)
        return out


class PlateSearch:
    """Search over passages, and the writes of the plate reader."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # ------------------------------------------------------------------ writes

    def insert_passage(self, row: PassageRow) -> int:
        return self.insert_passages([row])[0]

    def insert_passages(self, rows: Sequence[PassageRow]) -> list[int]:
        """Insert passages and their reads in one transaction; returns the passage ids. A row
        whose reads span more than `MAX_PASSAGE_US` (a vehicle that stayed) is stored as
        several passages of consecutive reads, each voted on its own."""
        rows = [part for r in rows for part in _split_long(r)]
        ids: list[int] = []
        with self._sessions.begin() as s:
            keys = self._key_ids(s, {fold(r.plate.compact) for r in rows})
            for r in rows:
                p = PlatePassage(key_id=keys[fold(r.plate.compact)], camera_id=r.camera_id,
                                 first_utc_us=r.first_utc_us, last_utc_us=r.last_utc_us,
                                 display=r.plate.display, compact=r.plate.compact,
                                 kind=r.plate.kind, confidence=r.confidence, reads=len(r.reads),
                                 crop_key=r.crop_key, case_id=r.case_id, job_id=r.job_id)
                s.add(p)
                s.flush()
                ids.append(p.id)
                s.execute(insert(PlateRead), [
                    {"passage_id": p.id, "camera_id": r.camera_id, "at_utc_us": x.at_utc_us,
                     "compact": compact(x.text), "confidence": x.confidence} for x in r.reads])
        return ids

    @staticmethod
    def _key_ids(s: Session, folded: set[str]) -> dict[str, int]:
        """Ids of these keys, creating the missing ones with their trigrams."""
        found = dict(s.execute(select(PlateKey.folded, PlateKey.id)
                               .where(PlateKey.folded.in_(folded))).tuples().all())
        for f in sorted(folded - found.keys()):
            try:
                with s.begin_nested():  # another writer may add the same key meanwhile
                    key = PlateKey(folded=f, folded_rev=f[::-1])
                    s.add(key)
                    s.flush()
                    s.execute(insert(PlateGram),
                              [{"code": c, "key_id": key.id} for c in gram_codes(f)])
                found[f] = key.id
            except IntegrityError:
                found[f] = s.execute(select(PlateKey.id).where(PlateKey.folded == f)).scalar_one()
        return found

    # ------------------------------------------------------------------ search

    def search(self, query: str, fuzzy: int = 0, camera_ids: Sequence[int] | None = None,
               from_utc_us: int | None = None, to_utc_us: int | None = None,
               limit: int = 50) -> list[Hit]:
        """Passages whose plate matches `query` (a whole plate or a pattern with * and ?),
        within `fuzzy` differences (0, 1 or 2), on these cameras (None: all), overlapping
        [from_utc_us, to_utc_us]; best first, at most `limit`."""
        if not 0 <= fuzzy <= MAX_FUZZY:
            raise InvalidInput(f"fuzzy is 0, 1 or {MAX_FUZZY} differences.", field="fuzzy")
        if limit < 1:
            raise InvalidInput("limit is at least 1.", field="limit")
        q = parse_query(query)
        flt = _Filter(tuple(camera_ids) if camera_ids is not None else None,
                      from_utc_us, to_utc_us)
        with self._sessions() as s:
            if q.wildcard:
                return self._wildcard(s, q, fuzzy, flt, limit)
            if fuzzy == 0:
                return self._exact(s, q, flt, limit)
            return self._fuzzy(s, q, fuzzy, flt, limit)

    def _exact(self, s: Session, q: Query, flt: _Filter, limit: int) -> list[Hit]:
        key = select(PlateKey.id).where(PlateKey.folded == q.folded).scalar_subquery()
        stmt = (select(*_HIT_COLUMNS)
                .where(_P.key_id == key, _P.compact == q.pattern, *flt.where())
                .order_by(_P.confidence.desc(), _P.last_utc_us.desc()).limit(limit))
        return [_hit(r, 0.0) for r in s.execute(stmt)]

    def _wildcard(self, s: Session, q: Query, fuzzy: int, flt: _Filter, limit: int
                  ) -> list[Hit]:
        keys = _pattern_keys(q)
        base: list[ColumnElement[bool]] = list(flt.where())
        if keys is not None:
            base.append(_P.key_id.in_(keys))
        elif flt.given:  # no index for the pattern: the window's passages drive
            base += [_P.key_id == PlateKey.id, PlateKey.folded.like(q.like(folded=True))]
        else:
            raise InvalidInput(
                f"{q.text!r} matches too many plates to search them all: give at least 2 "
                "characters at the start or the end, or 3 in a row (AB-1*, *-CD, *-123-*), "
                "or choose cameras or a time range.", field="q")
        exact = _P.compact.like(q.like())
        stmt = (select(*_HIT_COLUMNS).where(*base, exact)
                .order_by(_P.confidence.desc(), _P.last_utc_us.desc()).limit(limit))
        hits = [_hit(r, 0.0) for r in s.execute(stmt)]
        if fuzzy == 0 or len(hits) == limit:
            return hits
        # look-alike matches (the key matched, the compact text did not): rare, ranked here
        near: list[Hit] = []
        for r in s.execute(select(*_HIT_COLUMNS).where(*base, not_(exact))):
            d = pattern_distance(q.pattern, r.compact)
            if d is not None and d <= fuzzy:
                near.append(_hit(r, d))
        return hits + sorted(near, key=_rank)[:limit - len(hits)]

    def _fuzzy(self, s: Session, q: Query, fuzzy: int, flt: _Filter, limit: int) -> list[Hit]:
        # the normalised query and the query as typed fold alike but for U -> V
        texts = {q.pattern, q.typed}
        key_ids: set[int] = set()
        for fq in {fold(t) for t in texts}:
            candidates = s.execute(_fuzzy_keys(fq, fuzzy)).tuples().all()
            by_folded = {f: k for k, f in candidates}
            close = process.extract(fq, list(by_folded), scorer=Levenshtein.distance,
                                    score_cutoff=fuzzy, limit=None)
            key_ids.update(by_folded[f] for f, _, _ in close)
        if not key_ids:
            return []
        stmt = select(*_HIT_COLUMNS).where(_P.key_id.in_(sorted(key_ids)), *flt.where())
        memo: dict[str, float] = {}
        hits: list[Hit] = []
        for r in s.execute(stmt):
            d = memo.get(r.compact)
            if d is None:
                d = memo[r.compact] = min(distance(t, r.compact) for t in texts)
            if d <= fuzzy:
                hits.append(_hit(r, d))
        hits.sort(key=_rank)
        return hits[:limit]


# ---------------------------------------------------------------------- candidate keys

def _prefix(column: Any, prefix: str) -> ColumnElement[bool]:
    return and_(column >= prefix, column < _upper(prefix))


def _gram(run: str, start_min: int, start_max: int | None) -> Select[tuple[int]]:
    """Keys holding the trigram `run` (3 folded characters) starting in the range."""
    code = trigram(run) * GRAM_STARTS
    hi = GRAM_STARTS - 1 if start_max is None else min(start_max, GRAM_STARTS - 1)
    return select(PlateGram.key_id).where(PlateGram.code.between(code + start_min, code + hi))


def _pattern_keys(q: Query) -> Select[tuple[int]] | None:
    """Ids of the keys whose folded text matches the pattern, found through the most
    selective index the pattern allows; None when no index helps (too few known characters:
    at 10 million reads, scanning every key and its passages is too slow)."""
    like = PlateKey.folded.like(q.like(folded=True))
    prefix, suffix = q.prefix, q.suffix
    runs = [r for r in q.runs() if len(r.folded) >= 3]
    # selectivity in known characters: a trigram at a known place beats one anywhere
    options: list[tuple[float, ColumnElement[bool]]] = []
    if len(prefix) >= 2:
        options.append((len(prefix), _prefix(PlateKey.folded, prefix)))
    if len(suffix) >= 2:
        options.append((len(suffix) - 0.1, _prefix(PlateKey.folded_rev, suffix[::-1])))
    for run in runs:
        # the rarest trigram of a long run cannot be told apart here: take the first
        fixed = run.start_max is not None
        options.append((3.5 if fixed else 3.0,
                        PlateKey.id.in_(_gram(run.folded[:3], run.start_min, run.start_max))))
    if not options:
        return None
    return select(PlateKey.id).where(like, max(options, key=lambda o: o[0])[1])


def _fuzzy_keys(fq: str, k: int) -> Any:
    """(id, folded) of candidate keys for a fuzzy search: every key within k edits of the
    folded query starts with its prefix piece, ends with its suffix piece, or holds its
    middle piece within k of its place (k + 1 pieces, each edit spoils at most one)."""
    n = len(fq)
    middle = 0 if k == 1 else min(3, n - 2)
    a = (n - middle) // 2
    prefix, mid, suffix = fq[:a], fq[a:a + middle], fq[a + middle:]
    cols = (PlateKey.id, PlateKey.folded)
    parts = [select(*cols).where(_prefix(PlateKey.folded, prefix)),
             select(*cols).where(_prefix(PlateKey.folded_rev, suffix[::-1]))]
    if len(mid) == 3:
        parts.append(select(*cols).where(PlateKey.id.in_(_gram(mid, max(0, a - k), a + k))))
    elif mid:  # a short query: its 2-character middle has no index, scan the keys
        parts.append(select(*cols).where(PlateKey.folded.like(f"%{mid}%")))
    return union_all(*parts)  # duplicates go in the caller's dict: cheaper than UNION
