"""Stream states as the recorder sees them, kept in memory and persisted to `stream_status`.

The recorder calls `set` on every change (cheap, in memory); `run` writes changed rows and a
heartbeat every few seconds, so `guetteur status` in another process and a landlord's health
page see fresh states. A row whose heartbeat is older than `STALE_S` means no recorder is
running for that camera: readers report it as `stopped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import StreamStatus
from guetteur.domain.clock import Clock

log = logging.getLogger(__name__)
STALE_S = 30
HEARTBEAT_S = 5.0


@dataclass
class _Entry:
    state: str
    since_utc_us: int
    last_error: str | None
    dirty: bool = True


@dataclass(frozen=True)
class StreamHealth:
    camera_id: int
    stream: str
    state: str
    since_utc_us: int
    last_error: str | None


class StatusBoard:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, node: str) -> None:
        self._sessions = sessions
        self._clock = clock
        self._node = node
        self._entries: dict[tuple[int, str], _Entry] = {}
        self._wake = asyncio.Event()

    def set(self, camera_id: int, stream: str, state: str, last_error: str | None) -> None:
        key = (camera_id, stream)
        old = self._entries.get(key)
        if old and old.state == state and old.last_error == last_error:
            return
        since = old.since_utc_us if old and old.state == state else self._clock.now_us()
        self._entries[key] = _Entry(state, since, last_error)
        self._wake.set()

    def get(self, camera_id: int, stream: str) -> str | None:
        entry = self._entries.get((camera_id, stream))
        return entry.state if entry else None

    def flush(self, heartbeat: bool = False) -> None:
        now = self._clock.now_us()
        with self._sessions.begin() as db:
            existing = {(r.camera_id, r.stream): r for r in db.scalars(select(StreamStatus))}
            for key, entry in self._entries.items():
                if not (entry.dirty or heartbeat):
                    continue
                row = existing.get(key)
                if row is None:
                    row = StreamStatus(camera_id=key[0], stream=key[1])
                    db.add(row)
                row.state = entry.state
                row.since_utc_us = entry.since_utc_us
                row.last_error = entry.last_error
                row.node = self._node
                row.updated_utc_us = now
                entry.dirty = False

    async def run(self) -> None:
        last_beat = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                beat = loop.time() - last_beat >= HEARTBEAT_S
                await asyncio.to_thread(self.flush, beat)
                if beat:
                    last_beat = loop.time()
            except Exception:
                log.exception("stream status not saved; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), HEARTBEAT_S)
            await asyncio.sleep(0.2)  # coalesce bursts of changes


def read_health(sessions: sessionmaker[Session], now_us: int) -> dict[tuple[int, str],
                                                                      StreamHealth]:
    """Persisted states, with `stopped` for rows no recorder has refreshed lately."""
    with sessions() as db:
        rows = db.scalars(select(StreamStatus)).all()
    result = {}
    for r in rows:
        state = r.state
        if state != "disabled" and now_us - r.updated_utc_us > STALE_S * 1_000_000:
            state = "stopped"
        result[(r.camera_id, r.stream)] = StreamHealth(r.camera_id, r.stream, state,
                                                       r.since_utc_us, r.last_error)
    return result
