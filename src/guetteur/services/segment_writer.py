"""The one batching writer of segment rows (Moonfire's flusher), and crash recovery.

Recorders hand over finished files; the writer fsyncs and hashes each one (in a worker thread,
off the event loop), reads its init to learn the codec, then inserts a whole batch of rows in
one transaction: write, fsync, then index. Gaps go through the same queue so they are ordered
with the segments around them.

`recover_stream` indexes the files a crash left behind (the segment being written when the
process died, or finished files whose rows were still in the queue): the incomplete last
fragment is cut off, the rest indexed with `recovered=True`. `salvage_file` does that cut for
one file; the recorder calls it at once when its ffmpeg dies mid-segment.

Until its row is committed, a submitted file is *pending* (`pending()`): playback serves it
from there (services/open_segments.py) so that no instant is unplayable while it waits.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

from guetteur.adapters.media.fmp4 import FileScan, parse_init, scan_file
from guetteur.services.ports import SegmentStore
from guetteur.services.segment_index import GapRow, SegmentIndex, SegmentRow

log = logging.getLogger(__name__)
_NAME_RE = re.compile(r"^(?P<run>\w+?)_(?P<seq>\d{6})\.mp4$")
_BATCH_MAX = 200
_BATCH_WAIT_S = 0.25


@dataclass(frozen=True)
class FinishedFile:
    camera_id: int
    stream: str
    storage_key: str
    start_utc_us: int
    end_utc_us: int
    clock_drift_ms: int = 0
    recovered: bool = False


class SegmentWriter:
    def __init__(self, store: SegmentStore, index: SegmentIndex) -> None:
        self._store = store
        self._index = index
        self._queue: asyncio.Queue[FinishedFile | GapRow | None] = asyncio.Queue()
        self._pending: dict[str, FinishedFile] = {}
        # what this process indexed, for the metrics (read at scrape time, any thread)
        self.indexed = 0
        self.indexed_bytes = 0
        self.gaps: dict[str, int] = {}

    def submit(self, item: FinishedFile | GapRow) -> None:
        if isinstance(item, FinishedFile):
            self._pending[item.storage_key] = item
        self._queue.put_nowait(item)

    def pending(self, camera_id: int, stream: str) -> list[FinishedFile]:
        """Files handed over whose row is not committed yet (read from any thread)."""
        return [f for f in self._pending.copy().values()  # copy(): atomic under the GIL
                if f.camera_id == camera_id and f.stream == stream]

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Ask `run` to index what is queued, then return (shutdown)."""
        self._queue.put_nowait(None)

    def _prepare(self, item: FinishedFile) -> SegmentRow | None:
        path = self._store.path_of(item.storage_key)
        try:
            size, digest = self._store.finalize(item.storage_key)
            with path.open("rb") as fh:
                init = parse_init(fh.read(64 * 1024))
        except Exception as exc:  # a segment must never take the writer down
            log.error("segment %s cannot be indexed: %s", item.storage_key, exc)
            return None
        if init is None or size <= init.size:
            log.warning("segment %s holds no video, deleted", item.storage_key)
            self._store.delete(item.storage_key)
            return None
        return SegmentRow(item.camera_id, item.stream, item.storage_key, item.start_utc_us,
                          item.end_utc_us, size, digest, init.codec, init.size,
                          item.clock_drift_ms, item.recovered)

    def _write_batch(self, batch: list[FinishedFile | GapRow]) -> int:
        rows = [r for r in (self._prepare(i) for i in batch if isinstance(i, FinishedFile)) if r]
        gaps = [i for i in batch if isinstance(i, GapRow)]
        count = self._index.insert(rows, gaps)
        self.indexed_bytes += sum(r.size_bytes for r in rows)
        for gap in gaps:
            self.gaps[gap.reason] = self.gaps.get(gap.reason, 0) + 1
        return count

    async def run(self) -> None:
        """Index batches until `close()`; a batch is never dropped half-way (the task is
        not cancelled at shutdown, it is closed)."""
        closing = False
        while not closing:
            first = await self._queue.get()
            batch: list[FinishedFile | GapRow] = [] if first is None else [first]
            closing = first is None
            deadline = asyncio.get_running_loop().time() + _BATCH_WAIT_S
            while len(batch) < _BATCH_MAX and not closing:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), timeout)
                except TimeoutError:
                    break
                if item is None:
                    closing = True
                else:
                    batch.append(item)
            while closing and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None:
                    batch.append(item)
            if batch:
                await self._flush(batch, retry=not closing)

    async def _flush(self, batch: list[FinishedFile | GapRow], retry: bool) -> None:
        try:
            self.indexed += await asyncio.to_thread(self._write_batch, batch)
        except Exception:
            log.exception("segment batch of %d items not indexed%s", len(batch),
                          "; retrying in 1 s" if retry else "; `guetteur check --repair` "
                          "will index the files")
            if retry:
                await asyncio.sleep(1)
                for item in batch:
                    self._queue.put_nowait(item)
                return
        for item in batch:
            if isinstance(item, FinishedFile):
                self._pending.pop(item.storage_key, None)


def salvage_file(store: SegmentStore, key: str) -> tuple[FileScan | None, str]:
    """Make a file cut mid-write indexable: cut its incomplete last fragment off, or delete
    it when it holds no complete fragment. Returns (scan, what was done); scan is None when
    the file was deleted (the footage is lost: the line says why)."""
    path = store.path_of(key)
    scan = scan_file(path)
    if scan.init is None or scan.fragments == 0:
        why = "no init segment" if scan.init is None else "no complete fragment"
        store.delete(key)
        return None, f"{key}: {why}, file deleted"
    size = path.stat().st_size
    if scan.complete_bytes < size:
        store.truncate(key, scan.complete_bytes)
        return scan, f"{key}: incomplete last fragment cut ({size - scan.complete_bytes} bytes)"
    return scan, f"{key}: complete"


def recover_stream(store: SegmentStore, index: SegmentIndex, camera_id: int, stream: str,
                   open_keys: set[str] | None = None, min_age_s: float = 0.0) -> list[str]:
    """Index the files of one stream that are on disk but not in the index.

    Skips `open_keys` (files a live recorder is still writing) and, with `min_age_s`, files
    modified more recently than that (a recorder in another process may be writing them).
    Returns what it did, one line per file, for logs and `guetteur check --repair`.
    """
    done: list[str] = []
    indexed = index.keys(camera_id, stream)
    folder = store.stream_dir(camera_id, stream)
    rows: list[SegmentRow] = []
    for path in sorted(folder.glob("*.mp4")):
        key = store.key_of(path)
        if key in indexed or (open_keys and key in open_keys):
            continue
        if min_age_s and time.time() - path.stat().st_mtime < min_age_s:
            continue
        scan, line = salvage_file(store, key)
        if scan is None or scan.init is None:
            done.append(line)
            continue
        if "cut" in line:
            done.append(line)
        duration_us = round(scan.duration_s * 1e6)
        start = None
        match = _NAME_RE.match(path.name)
        if match:
            prev = f"{match['run']}_{int(match['seq']) - 1:06d}.mp4"
            prev_key = store.key_of(path.with_name(prev))
            start = indexed.get(prev_key)
        if start is None:
            end = path.stat().st_mtime_ns // 1000
            start = end - duration_us
        end = start + duration_us
        size, digest = store.finalize(key)
        rows.append(SegmentRow(camera_id, stream, key, start, end, size, digest,
                               scan.init.codec, scan.init.size, 0, True))
        indexed[key] = end
        done.append(f"{key}: indexed ({scan.duration_s:.2f} s recovered)")
    if rows:
        index.insert(rows, [])
    return done
