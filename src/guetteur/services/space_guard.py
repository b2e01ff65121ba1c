"""The space guard: a full disk never blinds the city (decision 0009, docs/design/recording.md).

Every few seconds (and at once when a recorder meets ENOSPC) it reads the free space of the
footage storage's file system (one `statvfs`). Below the watermark (`domain/storage.py`) it
deletes the oldest footage that no active hold and no unfinished export protects, across
cameras, until free space is back a fifth above the watermark; each such early deletion goes
into the register (`early_purge`, one event per camera and pass: range, count, bytes, digest,
reason, free bytes before and after). Crash-safe order as in the retention purge: file first,
then row.

When nothing is left to delete and free space falls under the floor, recording is interrupted
(state `full`): recorders stop writing (they wait on `wait_writable`), the reserve file in the
data directory is released so the database, the audit trail and logins keep room, and the
state is explicit in /healthz, the banner and `guetteur status`. Recording resumes by itself
once space is back above the watermark (plus the reserve, re-created first).

Invariants: only this class decides `full`; the state seen by the event loop (`writable`,
`wait_full`) changes only in `apply`, on the loop; `check_once` runs in one thread at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, not_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import Camera, Segment, StorageStatus
from guetteur.adapters.storage.space import Reserve, Usage, usage
from guetteur.domain.cases import HoldSpan
from guetteur.domain.clock import Clock
from guetteur.domain.storage import (
    DEGRADED,
    REASON,
    Candidate,
    RateMeter,
    SpacePolicy,
    SpaceState,
    assess,
    choose_to_free,
    message,
)
from guetteur.services.audit import AuditLog
from guetteur.services.ports import SegmentStore
from guetteur.services.retention import deleted_digest, protected_spans

log = logging.getLogger(__name__)
_BATCH = 500
_PERSIST_EVERY_S = 30
STALE_S = 60


@dataclass(frozen=True)
class SpaceReport:
    state: SpaceState
    free_bytes: int
    total_bytes: int
    min_free_bytes: int
    write_rate_bytes_per_s: float
    message: str
    freed_bytes: int = 0
    freed_segments: int = 0

    @property
    def degraded(self) -> bool:
        return self.state in DEGRADED

    def public(self) -> dict[str, Any]:
        return asdict(self) | {"degraded": self.degraded}


@dataclass(frozen=True)
class _Row:
    id: int
    camera_id: int
    start_utc_us: int
    end_utc_us: int
    size_bytes: int
    storage_key: str
    sha256: str


class SpaceGuard:
    def __init__(self, sessions: sessionmaker[Session], store: SegmentStore, clock: Clock,
                 audit: AuditLog, policy: SpacePolicy, data_dir: Path, node: str,
                 interval_s: float = 5.0) -> None:
        self._sessions = sessions
        self._store = store
        self._clock = clock
        self._audit = audit
        self.policy = policy
        self.reserve = Reserve(data_dir, policy.reserve_bytes)
        self._node = node
        self._interval_s = interval_s
        self._rate = RateMeter()
        self._freed_since_observed = 0
        self._state: SpaceState = "ok"
        self._since_us = clock.now_us()
        self._last_early_purge_us: int | None = None
        self._persisted_us = 0
        self.report: SpaceReport | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._full = asyncio.Event()
        self._wake = asyncio.Event()

    # -- what recorders, /healthz and pages ask -------------------------------------------------
    def writable(self) -> bool:
        return self._writable.is_set()

    async def wait_writable(self) -> None:
        await self._writable.wait()

    async def wait_full(self) -> None:
        await self._full.wait()

    def report_full(self) -> None:
        """A recorder met ENOSPC: check now rather than at the next tick."""
        self._wake.set()

    def alert(self) -> str | None:
        report = self.report
        return report.message if report is not None and report.degraded else None

    def health(self) -> dict[str, Any] | None:
        return self.report.public() if self.report is not None else None

    # -- the check ------------------------------------------------------------------------------
    def check_once(self) -> SpaceReport:
        now = self._clock.now_us()
        before = usage(self._store.root)
        rate = self._rate.observe(now, before.used_bytes, self._freed_since_observed)
        self._freed_since_observed = 0
        watermark = self.policy.watermark_bytes(before.total_bytes, rate)
        # a missing reserve is a debt: the space to re-create it counts as used
        need = self.policy.need_bytes(before.free_bytes - self.reserve.missing_bytes(),
                                      watermark)
        freed_bytes = freed_segments = 0
        after = before
        if need > 0:
            freed_bytes, freed_segments = self._free(need, before, watermark)
            after = usage(self._store.root)
        was_full = self._state == "full"
        state = assess(after.free_bytes - self.reserve.missing_bytes(), watermark,
                       was_full=was_full, last_early_purge_utc_us=self._last_early_purge_us,
                       now_us=now)
        if state == "full" and self.reserve.present_bytes():
            given = self.reserve.release()
            log.error("storage full: reserve file released (%d bytes) for the database", given)
            after = usage(self._store.root)
        elif state != "full" and self.reserve.missing_bytes():
            self.reserve.create()
            after = usage(self._store.root)
        report = SpaceReport(state, after.free_bytes, after.total_bytes, watermark, rate,
                             message(state, after.free_bytes, after.total_bytes, watermark),
                             freed_bytes, freed_segments)
        self._transition(state, was_full, report, now)
        self.report = report
        return report

    def _transition(self, state: SpaceState, was_full: bool, report: SpaceReport,
                    now: int) -> None:
        changed = state != self._state
        if changed:
            log.log(logging.INFO if state == "ok" else logging.WARNING,
                    "storage: %s -> %s: %s", self._state, state, report.message)
            self._state, self._since_us = state, now
        if state == "full" and not was_full:
            self._audit_safely("storage_full", report)
        elif was_full and state != "full":
            self._audit_safely("storage_resumed", report)
        if changed or now - self._persisted_us >= _PERSIST_EVERY_S * 1_000_000:
            self._persist(report, now)

    def _audit_safely(self, action: str, report: SpaceReport) -> None:
        try:
            self._audit.append(action, detail={
                "free_bytes": report.free_bytes, "total_bytes": report.total_bytes,
                "min_free_bytes": report.min_free_bytes, "message": report.message})
        except Exception:
            log.exception("storage: %s not written to the audit trail", action)

    def _persist(self, report: SpaceReport, now: int) -> None:
        try:
            with self._sessions.begin() as db:
                row = db.get(StorageStatus, self._node)
                if row is None:
                    row = StorageStatus(node=self._node)
                    db.add(row)
                row.state, row.since_utc_us = report.state, self._since_us
                row.free_bytes, row.total_bytes = report.free_bytes, report.total_bytes
                row.min_free_bytes, row.message = report.min_free_bytes, report.message
                row.last_early_purge_utc_us = self._last_early_purge_us
                row.updated_utc_us = now
            self._persisted_us = now
        except Exception:
            log.exception("storage state not saved; retrying at the next check")

    # -- the early purge ------------------------------------------------------------------------
    def _free(self, need: int, before: Usage, watermark: int) -> tuple[int, int]:
        with self._sessions() as db:
            spans = protected_spans(db)
        not_held = [not_(and_(Segment.camera_id == h.camera_id,
                              Segment.start_utc_us < h.end_utc_us,
                              Segment.end_utc_us > h.start_utc_us)) for h in spans]
        deleted: list[_Row] = []
        freed = 0
        last: tuple[int, int] | None = None
        while freed < need:
            page = self._page(not_held, last)
            if not page:
                break
            last = (page[-1].end_utc_us, page[-1].id)
            chosen = {c.segment_id for c in choose_to_free(
                [Candidate(r.id, r.camera_id, r.start_utc_us, r.end_utc_us, r.size_bytes)
                 for r in page], spans, need - freed)}
            rows = [r for r in page if r.id in chosen]
            if rows:
                self._delete(rows)
                deleted += rows
                freed += sum(r.size_bytes for r in rows)
        if not deleted:
            return 0, 0
        self._freed_since_observed += freed
        self._last_early_purge_us = self._clock.now_us()
        after = usage(self._store.root)
        self._register(deleted, spans, before, after, watermark)
        return freed, len(deleted)

    def _page(self, not_held: list[Any], last: tuple[int, int] | None) -> list[_Row]:
        after = [] if last is None else [or_(Segment.end_utc_us > last[0], and_(
            Segment.end_utc_us == last[0], Segment.id > last[1]))]
        with self._sessions() as db:
            return [_Row(*r) for r in db.execute(
                select(Segment.id, Segment.camera_id, Segment.start_utc_us, Segment.end_utc_us,
                       Segment.size_bytes, Segment.storage_key, Segment.sha256)
                .where(*not_held, *after)
                .order_by(Segment.end_utc_us, Segment.id).limit(_BATCH)).all()]

    def _delete(self, rows: list[_Row]) -> None:
        for row in rows:
            self._store.delete(row.storage_key)
        with self._sessions.begin() as db:
            db.execute(delete(Segment).where(Segment.id.in_([r.id for r in rows])))

    def _register(self, deleted: list[_Row], spans: list[HoldSpan], before: Usage,
                  after: Usage, watermark: int) -> None:
        with self._sessions() as db:
            names = dict(db.execute(select(Camera.id, Camera.name)).tuples().all())
        by_camera: dict[int, list[_Row]] = defaultdict(list)
        for row in deleted:
            by_camera[row.camera_id].append(row)
        for camera_id, rows in sorted(by_camera.items()):
            size = sum(r.size_bytes for r in rows)
            held_here = sum(1 for s in spans if s.camera_id == camera_id)
            log.warning("storage: camera %s: %d segments (%d bytes) deleted early, %s; free "
                        "%d -> %d bytes", names.get(camera_id, camera_id), len(rows), size,
                        REASON, before.free_bytes, after.free_bytes)
            self._audit.append(
                "early_purge", camera_id=camera_id,
                range_from_utc_us=min(r.start_utc_us for r in rows),
                range_to_utc_us=max(r.end_utc_us for r in rows),
                detail={"segments": len(rows), "size_bytes": size,
                        "camera": names.get(camera_id, str(camera_id)),
                        "digest": deleted_digest([(r.start_utc_us, r.sha256) for r in rows]),
                        "reason": REASON, "free_bytes_before": before.free_bytes,
                        "free_bytes_after": after.free_bytes, "min_free_bytes": watermark,
                        "protected_ranges": held_here})

    # -- the loop -------------------------------------------------------------------------------
    def apply(self, report: SpaceReport) -> None:
        """Make the report's state the one recorders see (on the event loop)."""
        if report.state == "full":
            self._writable.clear()
            self._full.set()
        else:
            self._full.clear()
            self._writable.set()

    async def check(self) -> SpaceReport:
        report = await asyncio.to_thread(self.check_once)
        self.apply(report)
        return report

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.check()
            except Exception:
                log.exception("space guard check failed; next try in %.0f s", self._interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)


def read_storage(sessions: sessionmaker[Session], now_us: int) -> list[dict[str, Any]]:
    """Persisted storage states of every node (`stale` when its guard stopped reporting)."""
    with sessions() as db:
        rows = db.scalars(select(StorageStatus).order_by(StorageStatus.node)).all()
    return [{"node": r.node, "state": r.state, "since_utc_us": r.since_utc_us,
             "free_bytes": r.free_bytes, "total_bytes": r.total_bytes,
             "min_free_bytes": r.min_free_bytes, "message": r.message,
             "last_early_purge_utc_us": r.last_early_purge_utc_us,
             "stale": now_us - r.updated_utc_us > STALE_S * 1_000_000} for r in rows]
