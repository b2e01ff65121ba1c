"""Retention purge: delete every segment past its camera's retention (CSI L252-5, 30 days max).

Crash-safe order: the file is deleted first, then its row. A crash in between leaves a row
without a file, which `guetteur check` reports and `--repair` removes; never a file without a
row, which nobody would ever purge. Each purge is logged and audited (camera, range, count,
bytes). Judicial holds (a later issue) will be checked here before any deletion.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import Camera, RecordingGap, Segment
from guetteur.domain.clock import Clock
from guetteur.domain.retention import cutoff_us
from guetteur.domain.timeutil import iso_utc
from guetteur.services.audit import AuditLog
from guetteur.services.ports import SegmentStore

log = logging.getLogger(__name__)
_BATCH = 500


@dataclass(frozen=True)
class PurgeReport:
    camera_id: int
    camera_name: str
    segments: int
    size_bytes: int
    oldest_start_utc_us: int
    newest_end_utc_us: int


class RetentionPurger:
    def __init__(self, sessions: sessionmaker[Session], store: SegmentStore, clock: Clock,
                 audit: AuditLog) -> None:
        self._sessions = sessions
        self._store = store
        self._clock = clock
        self._audit = audit

    def purge_once(self) -> list[PurgeReport]:
        now = self._clock.now_us()
        reports = []
        with self._sessions() as db:
            cameras = db.execute(select(Camera.id, Camera.name, Camera.retention_days)).all()
        for cam in cameras:
            cutoff = cutoff_us(now, cam.retention_days)
            report = self._purge_camera(cam.id, cam.name, cutoff)
            if report:
                reports.append(report)
        return reports

    def _purge_camera(self, camera_id: int, name: str, cutoff: int) -> PurgeReport | None:
        count = size = 0
        oldest = newest = None
        while True:
            with self._sessions() as db:
                rows = db.execute(select(Segment.id, Segment.storage_key, Segment.size_bytes,
                                         Segment.start_utc_us, Segment.end_utc_us)
                                  .where(Segment.camera_id == camera_id,
                                         Segment.end_utc_us <= cutoff)
                                  .order_by(Segment.end_utc_us).limit(_BATCH)).all()
            if not rows:
                break
            for row in rows:
                self._store.delete(row.storage_key)
            with self._sessions.begin() as db:
                db.execute(delete(Segment).where(Segment.id.in_([r.id for r in rows])))
            count += len(rows)
            size += sum(r.size_bytes for r in rows)
            oldest = min([oldest or rows[0].start_utc_us] + [r.start_utc_us for r in rows])
            newest = max([newest or 0] + [r.end_utc_us for r in rows])
        with self._sessions.begin() as db:
            db.execute(delete(RecordingGap).where(RecordingGap.camera_id == camera_id,
                                                  RecordingGap.end_utc_us <= cutoff))
        if not count or oldest is None or newest is None:
            return None
        report = PurgeReport(camera_id, name, count, size, oldest, newest)
        log.info("retention: camera %s: deleted %d segments (%d bytes) from %s to %s",
                 name, count, size, iso_utc(oldest), iso_utc(newest))
        self._audit.append("retention_purge", camera_id=camera_id, range_from_utc_us=oldest,
                           range_to_utc_us=newest,
                           detail={"segments": count, "size_bytes": size, "camera": name})
        return report

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await asyncio.to_thread(self.purge_once)
            except Exception:
                log.exception("retention purge failed; next try in %.0f s", interval_s)
            await asyncio.sleep(interval_s)
