"""Plate search: find the passages of a vehicle by full plate, wildcard pattern or fuzzy match,
across cameras and a time range; and the inserts the plate reader uses.

Index design (tables `plate_key`, `plate_gram`, `plate_passage`, `plate_read` in
`adapters/db/models.py`). Search runs over passages, but the index works on **keys**: the
distinct folded texts (`fold(compact)`, look-alikes as one symbol), 3.4 times fewer than
passages in the benchmark since vehicles come back. A key has
- `folded` (unique b-tree): exact lookups, and prefix ranges (`AB-1*` is `A81 <= folded <
  A82`);
- `folded_rev` (b-tree): suffix ranges (`*-CD`, and fuzzy suffix pieces);
- positional trigrams in `plate_gram` (`code = trigram * 16 + start`, primary key (code,
  key)): a run of 3 known characters at a known start (`?B-12?-C?`: `812` at 1) or anywhere
  (`*-123-*`: `123` at 0..15, one range of codes).
A wildcard search reads the candidate key ids through the most selective of these the
pattern allows (prefix and suffix ranges also checked with LIKE on `folded`), then the
passages `key_id IN (ids)` through (key_id, first_utc_us), with the camera and time filters
and `compact LIKE pattern`, ordered and limited in SQL. Ids go as a list, not a subquery:
given a subquery, PostgreSQL (random_page_cost 4) scanned all 740,000 keys in parallel
rather than probe a thousand (140 ms instead of 2). A pattern no index narrows (fewer than
2 known characters at the start or the end and no 3 in a row: `*B*`, `A*`), or one with more
than `MAX_KEYS` candidate keys, is refused unless cameras or a time range are given; then
(camera_id, first_utc_us) drives. With at most `FEW_KEYS` keys, their passages are read by
key even when a filter is given (SQLite would otherwise read the whole window). The time
filter bounds `first_utc_us` from below by `MAX_PASSAGE_US` (passages are short by
construction), so that either index serves a range, not everything before `to`.

Fuzzy (up to k = 1 or 2 differences) uses the pigeonhole principle on the folded query split
into k + 1 pieces: a prefix, a suffix, and for k = 2 a 3-character middle. Each edit spoils
at most one piece, so a text within k edits starts with the prefix, ends with the suffix, or
holds the middle within k of its place (insertions and deletions shift it by at most k): a
prefix range, a suffix range and a trigram range, each read from an index alone. A second
pigeonhole on the rest of the text, in SQL (`LIKE 'A8%12%' OR ...`), keeps most of the
prefix and suffix ranges out of Python: a median of 2,600 candidate texts for a 7-character
plate and k = 2 at 10 million reads. They are checked with Levenshtein on the folded texts
(rapidfuzz, in C; a lower bound of the weighted distance, so nothing is lost), then the
passages of the few keys left with the weighted `distance` (look-alike 0.5) from the query
as normalised and as typed, which decides. tests/integration/test_plate_search.py checks
the results against brute force, insertions and deletions included.

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
from sqlalchemy import (
    ColumnElement,
    insert,
    not_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import PlateGram, PlateKey, PlatePassage, PlateRead
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
from guetteur.services.plate_keys import fuzzy_candidates, gram_codes, in_ids, pattern_keys

MAX_FUZZY = 2
MAX_KEYS = 20_000  # candidate keys of a pattern beyond which it needs a camera/time filter
FEW_KEYS = 500  # up to this many keys, their passages are read by key even with a filter
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
    When some reads are well-formed French plates, only they vote: a read of the same vehicle
    with a character more or less (`XH-855-DER` beside `XH-855-DE`) is the OCR's slip, not
    another plate. None when no read is a plate."""
    read_as = [(r, normalise(r.text)) for r in reads]
    kept = [(r, p) for r, p in read_as if p is not None]
    if not kept:
        return None
    voters = [(r, p) for r, p in kept if p.kind != "foreign"] or kept
    text, confidence = vote([(p.compact, r.confidence) for r, p in voters])
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
    case_id: int | None = None

    @property
    def given(self) -> bool:
        return (self.camera_ids is not None or self.from_utc_us is not None
                or self.to_utc_us is not None or self.case_id is not None)

    def where(self, by_window: bool = True) -> list[ColumnElement[bool]]:
        """The filter's conditions. `by_window=False` when the passages are known to be few
        by their keys: `camera_id + 0` keeps the database off (camera_id, first_utc_us),
        which SQLite otherwise picks and reads the whole window through; first_utc_us still
        narrows (key_id, first_utc_us)."""
        camera: Any = _P.camera_id if by_window else _P.camera_id + 0
        out: list[ColumnElement[bool]] = []
        if self.camera_ids is not None:
            out.append(camera.in_(self.camera_ids))
        if self.from_utc_us is not None:
            # the bound on first_utc_us lets either index serve a range
            out.append(_P.first_utc_us >= self.from_utc_us - MAX_PASSAGE_US)
            out.append(_P.last_utc_us >= self.from_utc_us)
        if self.to_utc_us is not None:
            out.append(_P.first_utc_us <= self.to_utc_us)
        if self.case_id is not None:
            out.append(_P.case_id == self.case_id)
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
               limit: int = 50, case_id: int | None = None) -> list[Hit]:
        """Passages whose plate matches `query` (a whole plate or a pattern with * and ?),
        within `fuzzy` differences (0, 1 or 2), on these cameras (None: all), overlapping
        [from_utc_us, to_utc_us], of that case (None: any); best first, at most `limit`."""
        if not 0 <= fuzzy <= MAX_FUZZY:
            raise InvalidInput(f"Tolérance : 0, 1 ou {MAX_FUZZY} différences.", field="fuzzy")
        if limit < 1:
            raise InvalidInput("La limite est d'au moins 1.", field="limit")
        q = parse_query(query)
        flt = _Filter(tuple(camera_ids) if camera_ids is not None else None,
                      from_utc_us, to_utc_us, case_id)
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
        keys = pattern_keys(q)
        key_ids = [] if keys is None else list(s.execute(keys.limit(MAX_KEYS + 1)).scalars())
        base: list[ColumnElement[bool]] = list(flt.where(by_window=len(key_ids) > FEW_KEYS))
        if keys is not None and len(key_ids) <= MAX_KEYS:
            if not key_ids:
                return []
            base.append(in_ids(s, _P.key_id, key_ids))
        elif flt.given:  # no index narrows the pattern enough: the window's passages drive
            base += [_P.key_id == PlateKey.id, PlateKey.folded.like(q.like(folded=True))]
        else:
            raise InvalidInput(
                f"« {q.text} » correspond à trop de plaques : donnez au moins 2 caractères "
                "au début ou à la fin, ou 3 à la suite (AB-1*, *-CD, *-123-*), ou choisissez "
                "des caméras ou une période.", field="q")
        exact = _P.compact.like(q.like())
        stmt = (select(*_HIT_COLUMNS).where(*base, exact)
                .order_by(_P.confidence.desc(), _P.last_utc_us.desc()).limit(limit))
        hits = [_hit(r, 0.0) for r in s.execute(stmt)]
        if fuzzy == 0 or len(hits) == limit:
            return hits
        # look-alike matches (the key may match, the compact text did not): ranked here
        near: list[Hit] = []
        for r in s.execute(select(*_HIT_COLUMNS).where(*base, not_(exact))):
            d = pattern_distance(q.pattern, r.compact)
            if d is not None and d <= fuzzy:
                near.append(_hit(r, d))
        return hits + sorted(near, key=_rank)[:limit - len(hits)]

    def _fuzzy(self, s: Session, q: Query, fuzzy: int, flt: _Filter, limit: int) -> list[Hit]:
        # the normalised query and the query as typed fold alike but for U -> V
        texts = {q.pattern, q.typed}
        close: set[str] = set()
        for fq in {fold(t) for t in texts}:
            found = process.extract(fq, fuzzy_candidates(s, fq, fuzzy),
                                    scorer=Levenshtein.distance, score_cutoff=fuzzy, limit=None)
            close.update(f for f, _, _ in found)
        if not close:
            return []
        keys = select(PlateKey.id).where(PlateKey.folded.in_(sorted(close)))
        stmt = select(*_HIT_COLUMNS).where(_P.key_id.in_(keys), *flt.where(by_window=False))
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
