"""The audit trail: append, query, export, verify.

Append-only and hash-chained (`domain/audit.py`). Two writers, in one process or several, can
never chain to the same previous event: `prev_hash` is UNIQUE in the database, so the loser of
a race gets an integrity error and retries on the new last event. A live view is written when
it opens (so a crash cannot hide it) and closed by a `live_end` event naming the opening
event: no event is written per fragment.

`verify` re-computes every hash and link; over a large trail it splits the id range between
worker processes that each read their own slice from the database, then checks the links at
the slice boundaries. Events up to `legacy_until_id` (a trail older than the signed
checkpoints) were chained with `legacy_key`, later ones with `key`. Comparing the trail with
the signed checkpoints (what shows deleted newest events and a recomputed chain) is
`services/audit_checkpoints.py`; its verdict travels in `VerifyReport.anchor`.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import AuditEvent
from guetteur.domain.audit import GENESIS, canonical_detail, event_hash
from guetteur.domain.audit_anchor import AnchorVerdict, age_text, summary
from guetteur.domain.clock import Clock
from guetteur.domain.timeutil import iso_paris, iso_utc

_RETRIES = 50
_PARALLEL_MIN = 200_000


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, key: bytes = b"") -> None:
        self._sessions = sessions
        self._clock = clock
        self.key = key  # HMAC key of the chain (from the audit key; never stored in the db)
        self._lock = threading.Lock()
        self._last_hash: str | None = None  # a guess: another process may have appended
        self.appended = 0  # events this process wrote (metrics)

    def append(self, action: str, *, user_id: int | None = None, username: str | None = None,
               camera_id: int | None = None, range_from_utc_us: int | None = None,
               range_to_utc_us: int | None = None, client_addr: str | None = None,
               reason: str | None = None, detail: dict[str, Any] | None = None) -> int:
        body = canonical_detail(detail or {})
        for attempt in range(_RETRIES):
            try:
                with self._lock:
                    with self._sessions.begin() as db:
                        prev = self._last_hash
                        if prev is None:
                            prev = db.scalar(select(AuditEvent.hash).order_by(
                                AuditEvent.id.desc()).limit(1)) or GENESIS
                        at = self._clock.now_us()
                        digest = event_hash(prev, at, user_id, username, action, camera_id,
                                            range_from_utc_us, range_to_utc_us, client_addr,
                                            body, reason, key=self.key)
                        event = AuditEvent(at_utc_us=at, user_id=user_id, username=username,
                                           action=action, camera_id=camera_id,
                                           range_from_utc_us=range_from_utc_us,
                                           range_to_utc_us=range_to_utc_us,
                                           client_addr=client_addr, detail=body, reason=reason,
                                           prev_hash=prev, hash=digest)
                        db.add(event)
                        db.flush()
                        event_id = int(event.id)
                    self._last_hash = digest  # committed: the next event chains to it
                    self.appended += 1
                    return event_id
            except IntegrityError:
                # another process chained to that hash first: re-read the end and retry
                self._last_hash = None
                time.sleep(0.001 * attempt)
        raise RuntimeError("audit trail: could not append after many concurrent retries")

    def query(self, *, username: str | None = None, camera_id: int | None = None,
              from_utc_us: int | None = None, to_utc_us: int | None = None,
              actions: list[str] | None = None, limit: int = 200,
              offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Events, newest first, and the total matching."""
        conds = []
        if username:
            conds.append(AuditEvent.username == username)
        if camera_id is not None:
            conds.append(AuditEvent.camera_id == camera_id)
        if from_utc_us is not None:
            conds.append(AuditEvent.at_utc_us >= from_utc_us)
        if to_utc_us is not None:
            conds.append(AuditEvent.at_utc_us < to_utc_us)
        if actions:
            conds.append(AuditEvent.action.in_(actions))
        with self._sessions() as db:
            total = db.scalar(select(func.count()).select_from(AuditEvent).where(*conds)) or 0
            rows = db.scalars(select(AuditEvent).where(*conds).order_by(AuditEvent.id.desc())
                              .limit(limit).offset(offset)).all()
            return [event_json(r) for r in rows], int(total)

    def iter_events(self, from_utc_us: int | None = None,
                    to_utc_us: int | None = None) -> Iterator[dict[str, Any]]:
        conds = []
        if from_utc_us is not None:
            conds.append(AuditEvent.at_utc_us >= from_utc_us)
        if to_utc_us is not None:
            conds.append(AuditEvent.at_utc_us < to_utc_us)
        last = 0
        while True:
            with self._sessions() as db:
                rows = db.scalars(select(AuditEvent).where(AuditEvent.id > last, *conds)
                                  .order_by(AuditEvent.id).limit(5000)).all()
            if not rows:
                return
            for r in rows:
                yield event_json(r)
            last = rows[-1].id


CSV_FIELDS = ["id", "at_utc", "at_paris", "username", "action", "camera_id", "range_from_utc",
              "range_to_utc", "reason", "client_addr", "detail", "hash"]


def event_json(r: AuditEvent) -> dict[str, Any]:
    return {"id": r.id, "at_utc_us": r.at_utc_us, "at_utc": iso_utc(r.at_utc_us),
            "at_paris": iso_paris(r.at_utc_us), "user_id": r.user_id, "username": r.username,
            "action": r.action, "camera_id": r.camera_id,
            "range_from_utc_us": r.range_from_utc_us, "range_to_utc_us": r.range_to_utc_us,
            "range_from_utc": iso_utc(r.range_from_utc_us) if r.range_from_utc_us else None,
            "range_to_utc": iso_utc(r.range_to_utc_us) if r.range_to_utc_us else None,
            "reason": r.reason, "client_addr": r.client_addr, "detail": json.loads(r.detail),
            "hash": r.hash}


def to_csv(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for event in events:
        writer.writerow({**event, "detail": json.dumps(event["detail"], ensure_ascii=False)})
        if buf.tell() > 64_000:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


@dataclass(frozen=True)
class VerifyReport:
    events: int
    first_bad_id: int | None
    problem: str
    seconds: float
    anchor: AnchorVerdict | None = None  # the trail against the signed checkpoints

    @property
    def ok(self) -> bool:
        return self.first_bad_id is None and (self.anchor is None or self.anchor.ok)

    def public(self) -> dict[str, Any]:
        """What the CLI's --json and the API return."""
        data: dict[str, Any] = {"ok": self.ok, "events": self.events,
                                "first_bad_id": self.first_bad_id, "problem": self.problem,
                                "seconds": round(self.seconds, 3)}
        if self.anchor is not None:
            a, cp = self.anchor, self.anchor.newest
            data["anchor"] = {
                "ok": a.ok, "problem": a.problem, "summary": summary(a),
                "unanchored_events": a.unanchored_events,
                "newest": None if cp is None else {
                    "seq": cp.seq, "at_utc": iso_utc(cp.at_utc_us),
                    "at_paris": iso_paris(cp.at_utc_us), "events": cp.events,
                    "last_id": cp.last_id, "age_s": round(a.age_s or 0.0, 1),
                    "age": age_text(a.age_s or 0.0)}}
        return data


def _verify_slice(db_url: str, id_from: int, id_to: int, key: bytes = b"",
                  legacy_key: bytes = b"", legacy_until_id: int = 0, hashes: bool = True,
                  ) -> tuple[int, int | None, str, str | None, str | None]:
    """(count, first bad id, problem, prev_hash of the first event, hash of the last)."""
    from sqlalchemy import text

    from guetteur.adapters.db.engine import make_engine

    engine = make_engine(db_url)
    count = 0
    first_prev = last_hash = None
    expected_prev: str | None = None
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=20_000).execute(
                text("SELECT id, at_utc_us, user_id, username, action, camera_id, "
                     "range_from_utc_us, range_to_utc_us, client_addr, detail, prev_hash, "
                     "hash, reason FROM audit_event WHERE id >= :a AND id < :b ORDER BY id"),
                {"a": id_from, "b": id_to})
            for row in result:
                count += 1
                (rid, at, uid, uname, action, cam, rfrom, rto, addr, detail, prev, digest,
                 reason) = row
                if first_prev is None:
                    first_prev = prev
                elif prev != expected_prev:
                    return (count, rid, "previous-hash link broken (event deleted, inserted "
                            "or moved)", first_prev, None)
                used = legacy_key if rid <= legacy_until_id else key
                if hashes and event_hash(prev, at, uid, uname, action, cam, rfrom, rto, addr,
                                         detail, reason, key=used) != digest:
                    return count, rid, "content does not match its hash (event modified)", \
                        first_prev, None
                expected_prev = digest
                last_hash = digest
    finally:
        engine.dispose()
    return count, None, "ok", first_prev, last_hash


def verify(db_url: str, sessions: sessionmaker[Session], workers: int = 2,
           key: bytes = b"", *, legacy_key: bytes = b"", legacy_until_id: int = 0,
           hashes: bool = True) -> VerifyReport:
    """Check the whole chain with the chain's HMAC key; names the first bad event.
    `hashes=False`: the links only (a verifier without the key)."""
    started = time.monotonic()
    with sessions() as db:
        lo, hi, total = db.execute(select(func.min(AuditEvent.id), func.max(AuditEvent.id),
                                          func.count()).select_from(AuditEvent)).one()
    if not total:
        return VerifyReport(0, None, "ok (empty trail)", time.monotonic() - started)
    slices = 1 if total < _PARALLEL_MIN else max(1, workers)
    step = (hi - lo) // slices + 1
    bounds = [(lo + i * step, min(hi + 1, lo + (i + 1) * step)) for i in range(slices)]
    if slices == 1:
        results = [_verify_slice(db_url, *bounds[0], key, legacy_key, legacy_until_id,
                                 hashes)]
    else:
        with ProcessPoolExecutor(slices) as pool:
            results = list(pool.map(_verify_slice, [db_url] * slices,
                                    [b[0] for b in bounds], [b[1] for b in bounds],
                                    [key] * slices, [legacy_key] * slices,
                                    [legacy_until_id] * slices, [hashes] * slices))
    checked = 0
    prev_last = GENESIS
    for (count, bad, problem, first_prev, last_hash), (id_from, _) in zip(results, bounds,
                                                                          strict=True):
        # the link into a slice comes before anything found inside it
        if count and first_prev != prev_last:
            first_id = _first_id_from(sessions, id_from)
            return VerifyReport(checked + 1, first_id, "previous-hash link broken (event "
                                "deleted, inserted or moved)", time.monotonic() - started)
        if bad is not None:
            return VerifyReport(checked + count, bad, problem, time.monotonic() - started)
        checked += count
        if count:
            prev_last = last_hash or prev_last
    return VerifyReport(checked, None, "ok" if hashes else "ok (links only, no chain key)",
                        time.monotonic() - started)


def _first_id_from(sessions: sessionmaker[Session], id_from: int) -> int | None:
    with sessions() as db:
        return db.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.id >= id_from))
