"""The segment index: rows of recorded segments and gaps, and the queries on them.

Rows are only inserted for files that are on disk and fsynced (see `SegmentWriter`). Queries
return plain dataclasses; times are UTC microseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import RecordingGap, Segment
from guetteur.domain.errors import NotFound
from guetteur.domain.segments import Gap, Span, gaps_between, merge_spans

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentInfo:
    id: int
    camera_id: int
    stream: str
    start_utc_us: int
    end_utc_us: int
    size_bytes: int
    sha256: str
    storage_key: str
    codec: str
    init_size_bytes: int

    @property
    def duration_s(self) -> float:
        return (self.end_utc_us - self.start_utc_us) / 1e6


@dataclass(frozen=True)
class SegmentRow:
    """A finished, fsynced segment ready to be indexed."""

    camera_id: int
    stream: str
    storage_key: str
    start_utc_us: int
    end_utc_us: int
    size_bytes: int
    sha256: str
    codec: str
    init_size_bytes: int
    clock_drift_ms: int = 0
    recovered: bool = False


@dataclass(frozen=True)
class GapRow:
    camera_id: int
    stream: str
    start_utc_us: int
    end_utc_us: int
    reason: str
    detail: str | None = None


def _info(seg: Segment) -> SegmentInfo:
    return SegmentInfo(seg.id, seg.camera_id, seg.stream, seg.start_utc_us, seg.end_utc_us,
                       seg.size_bytes, seg.sha256, seg.storage_key, seg.codec,
                       seg.init_size_bytes)


@dataclass(frozen=True)
class StreamStats:
    camera_id: int
    stream: str
    segments: int
    size_bytes: int
    last_end_utc_us: int | None


class SegmentIndex:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def insert(self, segments: list[SegmentRow], gaps: list[GapRow]) -> int:
        """One transaction for a whole batch. If a row is already indexed (same storage key),
        the batch is retried row by row and the duplicates skipped; returns rows inserted."""
        try:
            with self._sessions.begin() as db:
                db.add_all(Segment(**row.__dict__) for row in segments)
                db.add_all(RecordingGap(**row.__dict__) for row in gaps)
            return len(segments)
        except IntegrityError:
            pass
        inserted = 0
        for row in segments:
            try:
                with self._sessions.begin() as db:
                    db.add(Segment(**row.__dict__))
                inserted += 1
            except IntegrityError:
                log.warning("segment %s already indexed; skipped", row.storage_key)
        with self._sessions.begin() as db:
            db.add_all(RecordingGap(**row.__dict__) for row in gaps)
        return inserted

    def last_end(self, camera_id: int, stream: str) -> int | None:
        with self._sessions() as db:
            return db.scalar(select(func.max(Segment.end_utc_us)).where(
                Segment.camera_id == camera_id, Segment.stream == stream))

    def keys(self, camera_id: int, stream: str) -> dict[str, int]:
        """storage key -> end_utc_us of every indexed segment of a stream."""
        with self._sessions() as db:
            rows = db.execute(select(Segment.storage_key, Segment.end_utc_us).where(
                Segment.camera_id == camera_id, Segment.stream == stream)).all()
            return {r.storage_key: r.end_utc_us for r in rows}

    def by_key(self, storage_key: str) -> SegmentInfo | None:
        with self._sessions() as db:
            seg = db.scalar(select(Segment).where(Segment.storage_key == storage_key))
            return _info(seg) if seg else None

    def by_name(self, camera_id: int, stream: str, file_name: str) -> SegmentInfo | None:
        """The indexed segment of a stream whose file is named `file_name`."""
        with self._sessions() as db:
            seg = db.scalar(select(Segment).where(
                Segment.camera_id == camera_id, Segment.stream == stream,
                Segment.storage_key.endswith("/" + file_name, autoescape=True)).limit(1))
            return _info(seg) if seg else None

    def get(self, segment_id: int) -> SegmentInfo:
        with self._sessions() as db:
            seg = db.get(Segment, segment_id)
            if seg is None:
                raise NotFound(f"Segment {segment_id} inconnu.")
            return _info(seg)

    def covering(self, camera_id: int, stream: str, from_us: int, to_us: int,
                 limit: int | None = None) -> list[SegmentInfo]:
        """Segments overlapping [from_us, to_us), by start time."""
        with self._sessions() as db:
            # Segments are at most a few minutes long: bounding the start from below lets the
            # (camera, stream, start) index do the work instead of scanning the stream.
            query = (select(Segment).where(
                Segment.camera_id == camera_id, Segment.stream == stream,
                Segment.start_utc_us < to_us, Segment.start_utc_us >= from_us - 3_600_000_000,
                Segment.end_utc_us > from_us).order_by(Segment.start_utc_us))
            if limit:
                query = query.limit(limit)
            return [_info(s) for s in db.scalars(query)]

    def at(self, camera_id: int, stream: str, instant_us: int) -> SegmentInfo | None:
        """The segment holding the instant, else the first one after it."""
        found = self.covering(camera_id, stream, instant_us, instant_us + 1, limit=1)
        if found:
            return found[0]
        with self._sessions() as db:
            seg = db.scalar(select(Segment).where(
                Segment.camera_id == camera_id, Segment.stream == stream,
                Segment.start_utc_us >= instant_us).order_by(Segment.start_utc_us).limit(1))
            return _info(seg) if seg else None

    def timeline(self, camera_id: int, stream: str, from_us: int, to_us: int,
                 now_us: int, extra: Sequence[tuple[int, int]] = ()
                 ) -> tuple[list[Span], list[Gap]]:
        """Recorded spans and gaps; `extra`: intervals recorded but not indexed yet (the
        segment being written, see services/open_segments.py)."""
        with self._sessions() as db:
            rows = db.execute(select(Segment.start_utc_us, Segment.end_utc_us).where(
                Segment.camera_id == camera_id, Segment.stream == stream,
                Segment.start_utc_us < to_us, Segment.start_utc_us >= from_us - 3_600_000_000,
                Segment.end_utc_us > from_us)).all()
            gap_rows = db.execute(select(RecordingGap).where(
                RecordingGap.camera_id == camera_id, RecordingGap.stream == stream,
                RecordingGap.start_utc_us < to_us, RecordingGap.end_utc_us > from_us)).scalars()
            recorded = [Gap(g.start_utc_us, g.end_utc_us, g.reason) for g in gap_rows]
        spans = [Span(max(s.start_utc_us, from_us), min(s.end_utc_us, to_us))
                 for s in merge_spans([(r.start_utc_us, r.end_utc_us) for r in rows]
                                      + list(extra))]
        return spans, gaps_between(spans, from_us, to_us, recorded, now_us)

    def gaps(self, camera_id: int, stream: str = "main") -> list[GapRow]:
        with self._sessions() as db:
            rows = db.scalars(select(RecordingGap).where(
                RecordingGap.camera_id == camera_id, RecordingGap.stream == stream)
                .order_by(RecordingGap.start_utc_us))
            return [GapRow(g.camera_id, g.stream, g.start_utc_us, g.end_utc_us, g.reason,
                           g.detail) for g in rows]

    def stats(self) -> dict[tuple[int, str], StreamStats]:
        with self._sessions() as db:
            rows = db.execute(select(
                Segment.camera_id, Segment.stream, func.count(), func.sum(Segment.size_bytes),
                func.max(Segment.end_utc_us)).group_by(Segment.camera_id, Segment.stream)).all()
        return {(r[0], r[1]): StreamStats(r[0], r[1], int(r[2]), int(r[3] or 0), r[4])
                for r in rows}
