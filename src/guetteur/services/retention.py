"""Retention purge: delete every segment past its camera's retention (CSI L252-5, 30 days max),
except what an active judicial hold covers, even partly.

Crash-safe order: the file is deleted first, then its row. A crash in between leaves a row
without a file, which `guetteur check` reports and `--repair` removes; never a file without a
row, which nobody would ever purge. Each purge goes into the register (an audit event): camera,
range, count, bytes and the SHA-256 of the deleted segments' SHA-256 values in start order, so
whoever holds a copy of those segments can prove which ones were destroyed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import and_, delete, not_, select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import (
    Camera,
    ExportJob,
    Hold,
    PlateGram,
    PlateKey,
    PlatePassage,
    PlateRead,
    RecordingGap,
    Segment,
)
from guetteur.domain.cases import HoldSpan, held
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
    digest: str  # sha256 of the deleted segments' sha256 values, newline-joined, by start
    held_segments: int  # past retention but kept by a hold


def deleted_digest(hashes_by_start: list[tuple[int, str]]) -> str:
    return hashlib.sha256("\n".join(h for _, h in sorted(hashes_by_start))
                          .encode()).hexdigest()


def protected_spans(db: Session, camera_id: int | None = None) -> list[HoldSpan]:
    """Active holds (on one camera, or all), and the ranges of exports not finished yet (their
    segments must not vanish under the job that reads them). The retention purge and the
    space guard's early purge both keep whatever meets one of these."""
    cond = [] if camera_id is None else [Hold.camera_id == camera_id]
    spans = [HoldSpan(*r) for r in db.execute(
        select(Hold.camera_id, Hold.start_utc_us, Hold.end_utc_us)
        .where(*cond, Hold.released_utc_us.is_(None))).all()]
    jobs = db.execute(select(ExportJob.camera_ids, ExportJob.start_utc_us,
                             ExportJob.end_utc_us).where(ExportJob.state.in_(
                                 ("awaiting_approval", "queued", "running")))).all()
    for j in jobs:
        spans += [HoldSpan(int(cid), j.start_utc_us, j.end_utc_us)
                  for cid in json.loads(j.camera_ids) if camera_id in (None, cid)]
    return spans


class RetentionPurger:
    def __init__(self, sessions: sessionmaker[Session], store: SegmentStore, clock: Clock,
                 audit: AuditLog, plates_dir: Path | None = None) -> None:
        self._sessions = sessions
        self._store = store
        self._clock = clock
        self._audit = audit
        self._plates_dir = plates_dir

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

    def _holds(self, camera_id: int) -> list[HoldSpan]:
        with self._sessions() as db:
            return protected_spans(db, camera_id)

    def _purge_camera(self, camera_id: int, name: str, cutoff: int) -> PurgeReport | None:
        holds = self._holds(camera_id)
        # a segment overlapping a hold stays: [start, end) meets [h.start, h.end)
        not_held = [not_(and_(Segment.start_utc_us < h.end_utc_us,
                              Segment.end_utc_us > h.start_utc_us)) for h in holds]
        size = 0
        hashes: list[tuple[int, str]] = []
        oldest = newest = None
        while True:
            with self._sessions() as db:
                rows = db.execute(select(Segment.id, Segment.storage_key, Segment.size_bytes,
                                         Segment.start_utc_us, Segment.end_utc_us,
                                         Segment.sha256)
                                  .where(Segment.camera_id == camera_id,
                                         Segment.end_utc_us <= cutoff, *not_held)
                                  .order_by(Segment.end_utc_us).limit(_BATCH)).all()
            # the rule itself, in the domain, has the last word over the query
            rows = [r for r in rows if not held(r.start_utc_us, r.end_utc_us, holds)]
            if not rows:
                break
            for row in rows:
                self._store.delete(row.storage_key)
            with self._sessions.begin() as db:
                db.execute(delete(Segment).where(Segment.id.in_([r.id for r in rows])))
            size += sum(r.size_bytes for r in rows)
            hashes.extend((r.start_utc_us, r.sha256) for r in rows)
            oldest = min([oldest or rows[0].start_utc_us] + [r.start_utc_us for r in rows])
            newest = max([newest or 0] + [r.end_utc_us for r in rows])
        gap_not_held = [not_(and_(RecordingGap.start_utc_us < h.end_utc_us,
                                  RecordingGap.end_utc_us > h.start_utc_us)) for h in holds]
        with self._sessions.begin() as db:
            db.execute(delete(RecordingGap).where(RecordingGap.camera_id == camera_id,
                                                  RecordingGap.end_utc_us <= cutoff,
                                                  *gap_not_held))
        self._purge_plates(camera_id, name, cutoff, holds)
        if not hashes or oldest is None or newest is None:
            return None
        with self._sessions() as db:
            kept = len(db.execute(select(Segment.id).where(
                Segment.camera_id == camera_id, Segment.end_utc_us <= cutoff)).all())
        report = PurgeReport(camera_id, name, len(hashes), size, oldest, newest,
                             deleted_digest(hashes), kept)
        log.info("retention: camera %s: deleted %d segments (%d bytes) from %s to %s; "
                 "%d kept by holds", name, report.segments, size, iso_utc(oldest),
                 iso_utc(newest), kept)
        self._audit.append("retention_purge", camera_id=camera_id, range_from_utc_us=oldest,
                           range_to_utc_us=newest,
                           detail={"segments": report.segments, "size_bytes": size,
                                   "camera": name, "digest": report.digest,
                                   "held_segments": kept})
        return report

    def _purge_plates(self, camera_id: int, name: str, cutoff: int,
                      holds: list[HoldSpan]) -> None:
        """Plates read outside any case (police mode's continuous reading) are personal data
        derived from the footage: they go with it. A case's plates stay with the case."""
        not_held = [not_(and_(PlatePassage.first_utc_us < h.end_utc_us,
                              PlatePassage.last_utc_us >= h.start_utc_us)) for h in holds]
        with self._sessions.begin() as db:
            rows = db.execute(select(PlatePassage.id, PlatePassage.key_id, PlatePassage.crop_key)
                              .where(PlatePassage.camera_id == camera_id,
                                     PlatePassage.case_id.is_(None),
                                     PlatePassage.last_utc_us <= cutoff, *not_held)).all()
            if not rows:
                return
            ids = [r.id for r in rows]
            db.execute(delete(PlateRead).where(PlateRead.passage_id.in_(ids)))
            db.execute(delete(PlatePassage).where(PlatePassage.id.in_(ids)))
            keys = {r.key_id for r in rows}
            used = set(db.scalars(select(PlatePassage.key_id).where(
                PlatePassage.key_id.in_(keys))))
            gone = list(keys - used)
            if gone:
                db.execute(delete(PlateGram).where(PlateGram.key_id.in_(gone)))
                db.execute(delete(PlateKey).where(PlateKey.id.in_(gone)))
        for row in rows:
            if row.crop_key and self._plates_dir is not None:
                (self._plates_dir / row.crop_key).unlink(missing_ok=True)
        self._audit.append("retention_purge_plates", camera_id=camera_id,
                           range_to_utc_us=cutoff,
                           detail={"camera": name, "passages": len(rows)})

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await asyncio.to_thread(self.purge_once)
            except Exception:
                log.exception("retention purge failed; next try in %.0f s", interval_s)
            await asyncio.sleep(interval_s)
