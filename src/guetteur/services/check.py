"""`guetteur check`: compare the segment index with the files in storage (Moonfire's check).

Finds: rows whose file is missing, files no row points to (orphans), and files whose size or
sha256 differs from their row. `repair` fixes what can be fixed without guessing: rows of
missing files are deleted (the footage is gone; the hole becomes a gap), orphans are indexed
after cutting any incomplete last fragment (or deleted if they hold no video). Size or hash
mismatches are never "repaired": the file may be evidence that someone tampered with it; it is
reported, and the row kept.

On a running server, files are written and indexed while the check runs. A file is *being
written*, never an orphan and never repaired, when a recorder of this process says so
(`open_keys`) or when it was modified in the last `OPEN_FILE_S` seconds (a recorder in another
process: its ffmpeg appends every ~200 ms; a finished file is indexed by the batching writer
within a second). Orphan and missing candidates are read again from the database at the end,
so a row committed (or purged) while the check ran is not reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import RecordingGap, Segment
from guetteur.services.ports import SegmentStore
from guetteur.services.segment_index import SegmentIndex
from guetteur.services.segment_writer import recover_stream


@dataclass
class CheckReport:
    checked_rows: int = 0
    missing_files: list[str] = field(default_factory=list)
    orphan_files: list[str] = field(default_factory=list)
    size_mismatch: list[str] = field(default_factory=list)
    hash_mismatch: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    being_written: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing_files or self.orphan_files or self.size_mismatch
                    or self.hash_mismatch)


def check(sessions: sessionmaker[Session], store: SegmentStore, *, hashes: bool = True,
          repair: bool = False, open_keys: set[str] | None = None) -> CheckReport:
    """`open_keys`: files a running recorder is writing right now, not orphans. Besides,
    every unindexed file modified in the last `OPEN_FILE_S` seconds is taken as being
    written or about to be indexed (a recorder in another process)."""
    report = CheckReport()
    open_keys = set(open_keys or ())
    with sessions() as db:
        rows = db.execute(select(Segment.id, Segment.camera_id, Segment.stream,
                                 Segment.storage_key, Segment.size_bytes, Segment.sha256,
                                 Segment.start_utc_us, Segment.end_utc_us)).all()
    by_key = {r.storage_key: r for r in rows}
    for row in rows:
        report.checked_rows += 1
        if not store.exists(row.storage_key):
            report.missing_files.append(row.storage_key)
            continue
        size = store.size_bytes(row.storage_key)
        if size != row.size_bytes:
            report.size_mismatch.append(f"{row.storage_key} ({size} != {row.size_bytes})")
        elif hashes and store.sha256(row.storage_key) != row.sha256:
            report.hash_mismatch.append(row.storage_key)
    orphan_streams: set[tuple[int, str]] = set()
    candidates = [k for k in store.iter_keys() if k not in by_key]
    indexed_since = _indexed(sessions, candidates)
    open_keys |= _recently_written(store, candidates)
    for key in candidates:
        if key in indexed_since or not store.exists(key):
            continue  # indexed meanwhile, or gone (purged, deleted as empty)
        if key in open_keys:
            report.being_written.append(key)
            continue
        report.orphan_files.append(key)
        cam, stream = key.split("/")[:2]
        orphan_streams.add((int(cam.removeprefix("cam")), stream))
    still = _indexed(sessions, report.missing_files)
    report.missing_files = [k for k in report.missing_files
                            if k in still and not store.exists(k)]
    if repair:
        missing = [by_key[k] for k in report.missing_files]
        if missing:
            with sessions.begin() as db:
                db.execute(delete(Segment).where(Segment.id.in_([r.id for r in missing])))
                for r in missing:
                    db.add(RecordingGap(camera_id=r.camera_id, stream=r.stream,
                                        start_utc_us=r.start_utc_us, end_utc_us=r.end_utc_us,
                                        reason="storage_error", detail="file missing"))
            report.repairs += [f"{k}: row deleted (file missing), gap recorded"
                               for k in report.missing_files]
        index = SegmentIndex(sessions)
        for cam_id, stream in sorted(orphan_streams):
            report.repairs += recover_stream(store, index, cam_id, stream, open_keys,
                                             min_age_s=OPEN_FILE_S)
    return report


OPEN_FILE_S = 10.0


def _recently_written(store: SegmentStore, keys: list[str]) -> set[str]:
    now = time.time()
    result = set()
    for key in keys:
        try:
            if now - store.path_of(key).stat().st_mtime < OPEN_FILE_S:
                result.add(key)
        except FileNotFoundError:
            continue
    return result


def _indexed(sessions: sessionmaker[Session], keys: list[str]) -> set[str]:
    """Which of `keys` have a row now (a fresh read, after the scan)."""
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        with sessions() as db:
            found |= set(db.scalars(select(Segment.storage_key).where(
                Segment.storage_key.in_(keys[i:i + 500]))))
    return found
