"""Signed checkpoints of the audit trail: written by the server, checked by `audit verify`.

`Checkpointer.tick()` writes the next checkpoint (`domain/audit_anchor.py`) when one is due:
every `every_events` new events, every `interval_s` when there are new events, every hour even
when there are none (so a stale newest checkpoint on a running server means something), and at
shutdown. It runs on a timer in a background thread, never inside `AuditLog.append`: an append
does no file I/O (it must keep working on a full disk).

Before signing, it checks that the trail still extends the previous checkpoint (the event it
named still has its hash, every later link and HMAC is right): a trail truncated or rewritten
since is never signed over; the checkpointer stops and says so in the log.

Several writers (threads, processes, nodes sharing the anchor directory) are safe: each
checkpoint number is created exclusively (`AnchorDir.write`); the loser reads the winner's
checkpoint and, if still due, writes the next one on top of it.

`initialise()` (at build, before anything is appended) writes checkpoint #1 on an empty anchor
directory: over an empty trail for a new installation, or over a trail from before checkpoints,
whose events were chained with the secret key's HMAC key (`legacy_until_id`). An empty anchor
directory beside events chained with the audit key is not papered over: the checkpoints were
deleted, and it says so instead of writing a new #1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.audit_anchor import AnchorDir, AuditKey
from guetteur.adapters.db.models import AuditEvent
from guetteur.domain.audit import GENESIS, AuditRecord, event_hash
from guetteur.domain.audit_anchor import Checkpoint, check_sequence, following, judge
from guetteur.domain.clock import Clock
from guetteur.domain.errors import GuetteurError
from guetteur.services.audit import VerifyReport, verify

log = logging.getLogger(__name__)

HEARTBEAT_S = 3600.0
_BATCH = 5000


class Checkpointer:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, key: AuditKey,
                 anchor: AnchorDir, *, legacy_key: bytes = b"", interval_s: float = 300.0,
                 every_events: int = 100) -> None:
        self._sessions = sessions
        self._clock = clock
        self.key = key
        self.anchor = anchor
        self.chain_key = key.chain_key()
        self.legacy_key = legacy_key  # the chain key of before checkpoints (secret key)
        self.interval_s = interval_s
        self.every_events = every_events
        self.legacy_until_id = 0
        self.problem: str | None = None  # why checkpoints are no longer written
        self._newest: Checkpoint | None = None
        self._lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------

    def initialise(self) -> None:
        """Read the newest checkpoint, or write #1 when there is none."""
        with self._lock:
            numbers = self.anchor.numbers()
            if numbers:
                self._start_from(numbers)
                return
            legacy_until, problem = self._legacy_boundary()
            if problem is not None:
                self._stop(problem)
                return
            with self._sessions() as db:
                events, max_id = _count_after(db, 0)
                head = _hash_of(db, max_id) if max_id else GENESIS
            first = following(None, self._clock.now_us(), events, max_id, head or GENESIS,
                              legacy_until or None)
            if self.anchor.write(first, self.key):
                self._newest = first
                self.legacy_until_id = legacy_until
                log.info("audit anchor: checkpoint #1 written in %s (%d events)",
                         self.anchor.path, events)
            else:  # another process wrote #1 at the same moment
                self._start_from(self.anchor.numbers())

    def _start_from(self, numbers: list[int]) -> None:
        _, first, why = self.anchor.read(1, self.key.public)
        _, newest, why_newest = self.anchor.read(numbers[-1], self.key.public)
        if first is None or newest is None:
            self._stop(f"point de contrôle n° {1 if first is None else numbers[-1]} illisible "
                       f"({why or why_newest})")
            return
        self.legacy_until_id = first.legacy_until_id or 0
        self._newest = newest

    def _legacy_boundary(self) -> tuple[int, str | None]:
        """(the last event chained with the legacy key, what prevents writing #1)."""
        prev, legacy_until, current_seen = GENESIS, 0, False
        for rec in self._records_after(0):
            if rec.prev_hash != prev:
                return 0, f"chaîne rompue à l'événement n° {rec.id}"
            if _recompute(rec, self.chain_key) == rec.hash:
                current_seen = True
            elif not current_seen and self.legacy_key and \
                    _recompute(rec, self.legacy_key) == rec.hash:
                legacy_until = rec.id
            else:
                return 0, f"l'événement n° {rec.id} ne correspond pas à son empreinte"
            prev = rec.hash
        if current_seen:
            return 0, ("le dossier d'ancrage est vide alors que le journal contient des "
                       "événements chaînés avec la clé d'audit : les points de contrôle ont été "
                       "supprimés ; restaurez le dossier d'ancrage (sauvegarde)")
        return legacy_until, None

    def tick(self, *, final: bool = False) -> Checkpoint | None:
        """Write the next checkpoint if one is due (`final`: at shutdown, if anything is new).
        Returns it, or None."""
        with self._lock:
            for _attempt in range(5):
                newest = self._catch_up()
                if newest is None:
                    return None
                now = self._clock.now_us()
                with self._sessions() as db:
                    # one lookup per poll: a trail truncated or rewritten is noticed at once
                    if newest.events and _hash_of(db, newest.last_id) != newest.head_hash:
                        self._stop(f"le journal ne concorde plus avec le point de contrôle n° "
                                   f"{newest.seq} (événement n° {newest.last_id} supprimé ou "
                                   "modifié)")
                        return None
                    new_events, _ = _count_after(db, newest.last_id)
                elapsed_s = (now - newest.at_utc_us) / 1e6
                due = (new_events >= self.every_events
                       or (new_events > 0 and (final or elapsed_s >= self.interval_s))
                       or elapsed_s >= HEARTBEAT_S)
                if not due:
                    return None
                cp = self._next(newest, now)
                if cp is None:
                    return None
                if self.anchor.write(cp, self.key):
                    self._newest = cp
                    log.info("audit checkpoint #%d: %d events, last %d, head %s, digest %s",
                             cp.seq, cp.events, cp.last_id, cp.head_hash, cp.digest)
                    return cp
                # another writer took that number: read it and decide again
            return None

    def _catch_up(self) -> Checkpoint | None:
        """The newest checkpoint, including those other writers added since."""
        newest = self._newest
        if newest is None:
            return None
        if not self.anchor.exists(newest.seq):
            self._stop(f"le point de contrôle n° {newest.seq} a disparu du dossier d'ancrage "
                       f"{self.anchor.path}")
            return None
        while self.anchor.exists(newest.seq + 1):
            _, cp, why = self.anchor.read(newest.seq + 1, self.key.public)
            if cp is None or cp.seq != newest.seq + 1 or cp.prev_digest != newest.digest:
                self._stop(f"le point de contrôle n° {newest.seq + 1} ne suit pas le n° "
                           f"{newest.seq} ({why or 'empreinte du précédent différente'})")
                return None
            newest = cp
        self._newest = newest
        return newest

    def _next(self, newest: Checkpoint, now_us: int) -> Checkpoint | None:
        """The checkpoint after `newest`, if every event since extends it."""
        prev, count, last_id = newest.head_hash, newest.events, newest.last_id
        for rec in self._records_after(newest.last_id):
            if rec.prev_hash != prev or _recompute(rec, self.chain_key) != rec.hash:
                self._stop(f"l'événement n° {rec.id} ne suit pas le point de contrôle n° "
                           f"{newest.seq} (lien ou empreinte faux)")
                return None
            prev, count, last_id = rec.hash, count + 1, rec.id
        return following(newest, now_us, count, last_id, prev)

    def _stop(self, problem: str) -> None:
        if problem != self.problem:
            log.error("audit anchor: checkpoints stopped: %s", problem)
        self.problem = problem
        self._newest = None

    async def run(self, poll_s: float = 5.0) -> None:
        """Check every `poll_s` whether a checkpoint is due (until cancelled)."""
        while True:
            await asyncio.sleep(poll_s)
            try:
                await asyncio.to_thread(self.tick)
            except GuetteurError as exc:  # e.g. the anchor's disk is full: retried next time
                log.error("audit checkpoint not written: %s", exc.message)
            except Exception:  # the database unreachable for a moment: retried next time
                log.exception("audit checkpoint not written; retrying")

    def _records_after(self, after_id: int) -> Iterator[AuditRecord]:
        last = after_id
        while True:
            with self._sessions() as db:
                rows = db.scalars(select(AuditEvent).where(AuditEvent.id > last)
                                  .order_by(AuditEvent.id).limit(_BATCH)).all()
                records = [_record(r) for r in rows]
            if not records:
                return
            yield from records
            last = records[-1].id

    # -- verifying -------------------------------------------------------------------------

    def verify(self, db_url: str, workers: int = 2) -> VerifyReport:
        """The chain (every hash and link) and the trail against the signed checkpoints."""
        return verify_trail(db_url, self._sessions, self.anchor, self.key.public,
                            self._clock.now_us(), workers, chain_key=self.chain_key,
                            legacy_key=self.legacy_key)


def verify_trail(db_url: str, sessions: sessionmaker[Session], anchor: AnchorDir,
                 public: Ed25519PublicKey, now_us: int, workers: int = 2, *,
                 chain_key: bytes | None = None, legacy_key: bytes = b"") -> VerifyReport:
    """Verify the trail against the checkpoints, which need only the public key. Without
    `chain_key` (a verifier who holds only the public key) each event's HMAC cannot be
    recomputed: links, completeness and the signed heads are checked, not each event's
    content after the newest checkpoint."""
    checkpoints, sequence_problem = check_sequence(anchor.read_all(public))
    legacy_until = checkpoints[0].legacy_until_id or 0 if checkpoints else 0
    report = verify(db_url, sessions, workers, chain_key or b"", legacy_key=legacy_key,
                    legacy_until_id=legacy_until, hashes=chain_key is not None)
    with sessions() as db:
        events, max_id = _count_after(db, 0)

        def event_at(event_id: int) -> tuple[str | None, int]:
            upto = db.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.id <= event_id)) or 0
            return _hash_of(db, event_id), int(upto)

        verdict = judge(checkpoints, sequence_problem, events, max_id, event_at, now_us)
    return dataclasses.replace(report, anchor=verdict)


def _count_after(db: Session, after_id: int) -> tuple[int, int]:
    """(events with an id above `after_id`, the highest id or 0)."""
    count, max_id = db.execute(select(func.count(), func.max(AuditEvent.id))
                               .where(AuditEvent.id > after_id)).one()
    return int(count or 0), int(max_id or 0)


def _hash_of(db: Session, event_id: int) -> str | None:
    return db.scalar(select(AuditEvent.hash).where(AuditEvent.id == event_id))


def _record(r: AuditEvent) -> AuditRecord:
    return AuditRecord(r.id, r.at_utc_us, r.user_id, r.username, r.action, r.camera_id,
                       r.range_from_utc_us, r.range_to_utc_us, r.client_addr, r.detail,
                       r.prev_hash, r.hash, r.reason)


def _recompute(rec: AuditRecord, key: bytes) -> str:
    return event_hash(rec.prev_hash, rec.at_utc_us, rec.user_id, rec.username, rec.action,
                      rec.camera_id, rec.range_from_utc_us, rec.range_to_utc_us,
                      rec.client_addr, rec.detail, rec.reason, key=key)
