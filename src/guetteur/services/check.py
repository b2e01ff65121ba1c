"""`guetteur check`: compare the segment index with the files in storage (Moonfire's check).

Finds: rows whose file is missing, files no row points to (orphans), and files whose size or
sha256 differs from their row. `repair` fixes what can be fixed without guessing: rows of
missing files are deleted (the footage is gone; the hole becomes a gap), orphans are indexed
after cutting any incomplete last fragment (or deleted if they hold no video). Size or hash
mismatches are never "repaired": the file may be evidence that someone tampered with it; it is
reported, and the row kept.
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
    """`open_keys`: files a running recorder is writing right now, not orphans. Without it,
    the newest file of a stream modified in the last `OPEN_FILE_S` seconds is taken as being
    written (a recorder in another process)."""
    report = CheckReport()
    open_keys = set(open_keys or ()) | _recently_written(store)
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
    for key in store.iter_keys():
        if key in open_keys and key not in by_key:
            report.being_written.append(key)
            continue
        if key in by_key:
            continue
        report.orphan_files.append(key)
        cam, stream = key.split("/")[:2]
        orphan_streams.add((int(cam.removeprefix("cam")), stream))
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
            report.repairs += recover_stream(store, index, cam_id, stream, open_keys)
    return report


OPEN_FILE_S = 10.0


def _recently_written(store: SegmentStore) -> set[str]:
    newest: dict[str, tuple[str, float]] = {}
    for key in store.iter_keys():
        folder = key.rsplit("/", 1)[0]
        if folder not in newest or key > newest[folder][0]:
            newest[folder] = (key, 0.0)
    now = time.time()
    result = set()
    for key, _ in newest.values():
        try:
            if now - store.path_of(key).stat().st_mtime < OPEN_FILE_S:
                result.add(key)
        except FileNotFoundError:
            continue
    return result
