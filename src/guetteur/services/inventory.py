"""Per-camera recording summary for `guetteur status` and supervision: state, last segment,
segment count and bytes. Reads persisted states (a recorder may run in another process)."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from guetteur.domain.clock import Clock
from guetteur.domain.timeutil import iso_utc
from guetteur.services.registry import CameraRegistry
from guetteur.services.segment_index import SegmentIndex
from guetteur.services.status import read_health


class _Parts(Protocol):
    sessions: sessionmaker[Session]
    clock: Clock
    registry: CameraRegistry
    index: SegmentIndex


def camera_status(c: _Parts) -> list[dict[str, Any]]:
    health = read_health(c.sessions, c.clock.now_us())
    stats = c.index.stats()
    rows = []
    for cam in c.registry.list():
        h = health.get((cam.id, "main"))
        state = "disabled" if not cam.enabled else (h.state if h else "stopped")
        s = stats.get((cam.id, "main"))
        last = s.last_end_utc_us if s else None
        rows.append({
            "id": cam.id, "name": cam.name, "state": state,
            "last_segment_end_utc": iso_utc(last) if last else None,
            "segments": s.segments if s else 0, "bytes": s.size_bytes if s else 0,
            "last_error": h.last_error if h and state != "recording" else None,
        })
    return rows
