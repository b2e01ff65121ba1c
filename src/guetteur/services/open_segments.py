"""Footage not in the segment index yet, so that playback reaches the live edge.

Two kinds of files are recorded but have no row: the segment each recorder is writing (the
*open* segment: its complete fragments are playable, see `StreamRecorder.open_segment`), and
finished files waiting in the batching writer's queue (*pending*, well under a second). This
service merges them with the index for the playback queries (`covering`, `at`, `timeline`) and
says which bytes of such a file may be served (`readable`). Decision 0008.

Invariants:
- Only what the recorder process knows is served: nothing here writes the database, so a
  crash leaves no half-made row behind (startup recovery and `salvage_file` index the file).
- An open segment is exposed up to its last complete fragment only: `size_bytes` always ends at
  a fragment boundary, and the bytes route never sends past it (never a half-written fragment).
- A file is listed once: when its row is committed, the row wins (same storage key).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from guetteur.adapters.media.fmp4 import GrowingFile, parse_init
from guetteur.domain.errors import NotFound
from guetteur.domain.segments import Gap, Span
from guetteur.services.ports import SegmentStore
from guetteur.services.segment_index import SegmentIndex, SegmentInfo
from guetteur.services.segment_writer import FinishedFile


@dataclass(frozen=True)
class OpenSegment:
    """A recorded file without a row: being written (`open`) or waiting for the writer."""

    camera_id: int
    stream: str
    storage_key: str
    start_utc_us: int
    end_utc_us: int
    size_bytes: int  # bytes that may be served: init + complete fragments
    init_size_bytes: int
    codec: str
    open: bool = True

    @property
    def duration_s(self) -> float:
        return (self.end_utc_us - self.start_utc_us) / 1e6

    @property
    def file_name(self) -> str:
        return self.storage_key.rsplit("/", 1)[-1]

    def media_uri(self) -> str:
        """Where its bytes are served (routes_open_media.py)."""
        return f"/api/cameras/{self.camera_id}/recording/{self.file_name}?stream={self.stream}"


class OpenFileTracker:
    """What one stream recorder knows of the file it is writing (used from any thread).

    The file's start is the end of the run's previous segment (`run_start_us`); for a run's
    first file, whose times ffmpeg reports only once it is finished, it is estimated as the
    file's mtime minus the duration of its complete fragments, the earliest estimate kept (a
    late observation never moves it, as `SegmentTimer` does with reports)."""

    def __init__(self, store: SegmentStore, camera_id: int, stream: str) -> None:
        self._store = store
        self._camera_id = camera_id
        self._stream = stream
        self._lock = threading.Lock()
        self._file: GrowingFile | None = None
        self._key: str | None = None
        self._guess_us: int | None = None

    def snapshot(self, key: str, run_start_us: int | None) -> OpenSegment | None:
        with self._lock:
            if self._file is None or self._key != key:
                self._file, self._key = GrowingFile(self._store.path_of(key)), key
                self._guess_us = None
            scan = self._file.scan()
            if scan.init is None or scan.fragments == 0:
                return None
            duration_us = round(scan.duration_s * 1e6)
            start = run_start_us
            if start is None:
                try:
                    mtime_us = self._file.path.stat().st_mtime_ns // 1000
                except FileNotFoundError:
                    return None
                if self._guess_us is None or mtime_us - duration_us < self._guess_us:
                    self._guess_us = mtime_us - duration_us
                start = self._guess_us
        return OpenSegment(self._camera_id, self._stream, key, start, start + duration_us,
                           scan.complete_bytes, scan.init.size, scan.init.codec)


def pending_segments(store: SegmentStore, files: list[FinishedFile]) -> list[OpenSegment]:
    """Finished files still in the writer's queue, as playable segments (whole files)."""
    result = []
    for f in files:
        try:
            with store.path_of(f.storage_key).open("rb") as fh:
                init = parse_init(fh.read(256 * 1024))
            size = store.size_bytes(f.storage_key)
        except OSError:
            continue
        if init is not None:
            result.append(OpenSegment(f.camera_id, f.stream, f.storage_key, f.start_utc_us,
                                      f.end_utc_us, size, init.size, init.codec, open=False))
    return result


Playable = SegmentInfo | OpenSegment
# (camera_id, stream) -> the unindexed files of that stream, oldest first
Source = Callable[[int, str], list[OpenSegment]]


def media_uri(seg: Playable) -> str:
    if isinstance(seg, OpenSegment):
        return seg.media_uri()
    return f"/api/segments/{seg.id}/media"


def at_json(seg: Playable, instant_us: int) -> dict[str, object]:
    """The answer of `GET /api/cameras/{id}/at`: a segment being written has no id
    (`segment_id` null, `open` true); `media_url` serves either kind."""
    return {"segment_id": seg.id if isinstance(seg, SegmentInfo) else None,
            "start_utc_us": seg.start_utc_us, "end_utc_us": seg.end_utc_us,
            "init_size_bytes": seg.init_size_bytes, "size_bytes": seg.size_bytes,
            "open": isinstance(seg, OpenSegment), "media_url": media_uri(seg),
            "offset_s": max(0.0, (instant_us - seg.start_utc_us) / 1e6)}


@dataclass(frozen=True)
class Readable:
    path: Path
    size_bytes: int  # serve bytes [0, size_bytes) only
    start_utc_us: int
    end_utc_us: int


class OpenSegments:
    def __init__(self, index: SegmentIndex, store: SegmentStore, source: Source) -> None:
        self._index = index
        self._store = store
        self._source = source

    def unindexed(self, camera_id: int, stream: str) -> list[OpenSegment]:
        return sorted(self._source(camera_id, stream), key=lambda s: s.start_utc_us)

    def covering(self, camera_id: int, stream: str, from_us: int,
                 to_us: int) -> list[Playable]:
        """Indexed and unindexed segments overlapping [from_us, to_us), by start time."""
        rows: list[Playable] = list(self._index.covering(camera_id, stream, from_us, to_us))
        if to_us < self._index_horizon_us(rows):
            return rows
        known = {r.storage_key for r in rows}
        extra: list[Playable] = [
            s for s in self.unindexed(camera_id, stream)
            if s.start_utc_us < to_us and s.end_utc_us > from_us
            and s.storage_key not in known and not self._indexed(s.storage_key)]
        return sorted(rows + extra, key=lambda s: s.start_utc_us)

    def at(self, camera_id: int, stream: str, instant_us: int) -> Playable | None:
        """The segment holding the instant, else the first one after it (open ones too)."""
        found: Playable | None = self._index.at(camera_id, stream, instant_us)
        if found is not None and found.start_utc_us <= instant_us < found.end_utc_us:
            return found
        for seg in self.unindexed(camera_id, stream):
            if seg.end_utc_us <= instant_us or self._indexed(seg.storage_key):
                continue
            if found is None or seg.start_utc_us < found.start_utc_us:
                found = seg
            break
        return found

    def timeline(self, camera_id: int, stream: str, from_us: int, to_us: int,
                 now_us: int) -> tuple[list[Span], list[Gap]]:
        extra = [(s.start_utc_us, s.end_utc_us) for s in self.unindexed(camera_id, stream)
                 if s.start_utc_us < to_us and s.end_utc_us > from_us]
        return self._index.timeline(camera_id, stream, from_us, to_us, now_us, extra)

    def readable(self, camera_id: int, stream: str, file_name: str) -> Readable:
        """Which bytes of a recorded file may be served: an open file up to its last complete
        fragment, a pending or indexed one whole."""
        for seg in self.unindexed(camera_id, stream):
            if seg.file_name == file_name:
                return Readable(self._store.path_of(seg.storage_key), seg.size_bytes,
                                seg.start_utc_us, seg.end_utc_us)
        row = self._index.by_name(camera_id, stream, file_name)
        if row is None:
            raise NotFound("Ce fichier n'est plus en cours d'écriture ni enregistré.")
        return Readable(self._store.path_of(row.storage_key), row.size_bytes,
                        row.start_utc_us, row.end_utc_us)

    def _indexed(self, key: str) -> bool:
        return self._index.by_key(key) is not None

    @staticmethod
    def _index_horizon_us(rows: Sequence[Playable]) -> int:
        """Below the end of the last indexed segment found, nothing unindexed can start."""
        return max((r.end_utc_us for r in rows), default=-1)
