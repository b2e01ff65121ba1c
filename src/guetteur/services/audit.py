"""Writing the audit trail.

Appends are serialised (a process-wide lock, plus a row lock on PostgreSQL) so that two writers
never chain to the same previous event. A live view is written when it opens (so a crash
cannot hide it) and closed by a `live_end` event naming the opening event's id: the chain stays
append-only and no event is written per fragment.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import AuditEvent
from guetteur.domain.audit import GENESIS, canonical_detail, event_hash
from guetteur.domain.clock import Clock

_LOCK = threading.Lock()


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def append(self, action: str, *, user_id: int | None = None, username: str | None = None,
               camera_id: int | None = None, range_from_utc_us: int | None = None,
               range_to_utc_us: int | None = None, client_addr: str | None = None,
               detail: dict[str, Any] | None = None) -> int:
        body = canonical_detail(detail or {})
        with _LOCK, self._sessions.begin() as db:
            if db.bind is not None and db.bind.dialect.name == "postgresql":
                db.execute(text("SELECT pg_advisory_xact_lock(4242)"))
            prev = db.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
            prev = prev or GENESIS
            at = self._clock.now_us()
            digest = event_hash(prev, at, user_id, username, action, camera_id,
                                range_from_utc_us, range_to_utc_us, client_addr, body)
            event = AuditEvent(at_utc_us=at, user_id=user_id, username=username, action=action,
                               camera_id=camera_id, range_from_utc_us=range_from_utc_us,
                               range_to_utc_us=range_to_utc_us, client_addr=client_addr,
                               detail=body, prev_hash=prev, hash=digest)
            db.add(event)
            db.flush()
            return int(event.id)
