"""Continuous recording: one supervised, named asyncio task per camera stream.

Each `StreamRecorder` keeps one ffmpeg process connected to its camera (stream copy into
fragmented-MP4 segments, see `adapters/media/ffmpeg.py`), turns ffmpeg's per-segment reports
into wall-clock times (`SegmentTimer`) and hands finished files to the one `SegmentWriter`.
When ffmpeg stops (camera gone, network cut, bad URL) it is restarted with capped exponential
backoff, and the hole is recorded as a gap with its reason once recording resumes:
`recorder_crashed` when ffmpeg died (signal, or an error that is not the camera's),
`camera_offline` when the camera stopped sending (see `exit_cause`). A file ffmpeg left
unfinished is indexed at once up to its last complete fragment (`salvage_file`), or deleted
with the reason logged and kept in the gap's detail.

`open_segment()` describes the file being written (its complete fragments), so playback can
reach a few seconds behind live without a row for it (services/open_segments.py).

The `RecorderSupervisor` reconciles running recorders with the camera rows assigned to this
node: on start, when the registry reports a change, and every `reconcile_interval_s` (to see
changes made by another process, e.g. the CLI). A camera whose `config_version` changed is
restarted; a disabled or removed one is stopped. `stop()` joins every task and ffmpeg.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from guetteur.adapters.media.ffmpeg import (
    die_with_parent,
    exit_cause,
    parse_segment_line,
    segment_command,
)
from guetteur.domain.cameras import redact_urls, with_credentials
from guetteur.domain.clock import Clock
from guetteur.domain.segments import RESTART_GAP_MIN_US, SegmentTimer
from guetteur.domain.timeutil import from_us
from guetteur.services.open_segments import OpenFileTracker, OpenSegment, pending_segments
from guetteur.services.ports import SegmentStore, SpaceGate
from guetteur.services.registry import CameraRegistry, RecordTarget
from guetteur.services.segment_index import GapRow, SegmentIndex
from guetteur.services.segment_writer import (
    FinishedFile,
    SegmentWriter,
    recover_stream,
    salvage_file,
)
from guetteur.services.status import StatusBoard

log = logging.getLogger(__name__)


@dataclass
class RecorderConfig:
    ffmpeg: str = "ffmpeg"
    segment_s: int = 60
    timeout_s: float = 5.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    node: str = "node-1"


@dataclass
class StreamState:
    state: str = "starting"
    current_key: str | None = None
    last_error: str | None = None
    segments: int = 0
    runs: int = 0


@dataclass(frozen=True)
class RecorderDeps:
    """What every stream recorder of a node shares."""

    store: SegmentStore
    writer: SegmentWriter
    index: SegmentIndex
    status: StatusBoard
    clock: Clock
    config: RecorderConfig
    space: SpaceGate | None = None  # the space guard: no writing while the disk is full


class StreamRecorder:
    def __init__(self, target: RecordTarget, stream: str, url: str, deps: RecorderDeps) -> None:
        self.target = target
        self.stream = stream
        self._url = url
        self._store = deps.store
        self._writer = deps.writer
        self._index = deps.index
        self._status = deps.status
        self._clock = deps.clock
        self._config = deps.config
        self._space = deps.space
        self.state = StreamState()
        self._proc: asyncio.subprocess.Process | None = None
        self._gap_reason = "recorder_stopped"
        self._last_end_us: int | None = None
        self._folder: Path | None = None
        self._stopping = False
        self._run_reported = False  # this run reported a segment: _last_end_us is its end
        self._open = OpenFileTracker(self._store, target.camera_id, stream)

    @property
    def name(self) -> str:
        return f"record:{self.target.name}:{self.stream}"

    def current_path(self) -> Path | None:
        key = self.state.current_key
        return self._store.path_of(key) if key else None

    def open_segment(self) -> OpenSegment | None:
        """The file being written, up to its last complete fragment (any thread)."""
        key = self.state.current_key
        if key is None:
            return None
        seg = self._open.snapshot(key, self._last_end_us if self._run_reported else None)
        return seg if key == self.state.current_key else None  # else pending in the writer

    def unindexed(self) -> list[OpenSegment]:
        """Finished files waiting for the writer, then the open one."""
        result = pending_segments(self._store, self._writer.pending(self.target.camera_id,
                                                                    self.stream))
        current = self.open_segment()
        return [*result, current] if current is not None else result

    def _set_state(self, state: str, error: str | None = None) -> None:
        self.state.state = state
        self.state.last_error = redact_urls(error) if error else None
        self._status.set(self.target.camera_id, self.stream, state, self.state.last_error)

    async def run(self) -> None:
        cam = self.target.camera_id
        self._folder = await asyncio.to_thread(self._store.stream_dir, cam, self.stream)
        recovered = await asyncio.to_thread(recover_stream, self._store, self._index, cam,
                                            self.stream)
        for line in recovered:
            log.warning("%s: crash recovery: %s", self.name, line)
        self._last_end_us = await asyncio.to_thread(self._index.last_end, cam, self.stream)
        backoff = self._config.backoff_min_s
        while True:
            await self._wait_for_space()
            produced = await self._run_once()
            if self._stopping:
                self._set_state("stopped")
                return
            if produced:
                backoff = self._config.backoff_min_s
            # the gap reason was set from how ffmpeg ended (`exit_cause`, in `_run_once`)
            if "No space left" in (self.state.last_error or "") and self._space is not None:
                self._space.report_full()
            self._set_state("reconnecting", self.state.last_error or "stream ended")
            log.warning("%s: stream stopped (%s); reconnecting in %.1f s", self.name,
                        self.state.last_error, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._config.backoff_max_s)

    async def _run_once(self) -> bool:
        assert self._folder is not None
        run_id = from_us(self._clock.now_us()).strftime("%Y%m%dT%H%M%S%fZ")
        pattern = self._folder / f"{run_id}_%06d.mp4"
        cmd = segment_command(self._config.ffmpeg, self._url, pattern, self._config.segment_s,
                              self._config.timeout_s)
        self.state.runs += 1
        self._run_reported = False
        self.state.current_key = self._store.key_of(self._folder / f"{run_id}_000000.mp4")
        timer = SegmentTimer()
        produced = 0
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, preexec_fn=die_with_parent)
        except OSError as exc:
            self.state.last_error = f"cannot start ffmpeg: {exc}"
            self._gap_reason = "recorder_crashed"
            return False
        proc = self._proc
        errors: list[str] = []
        stderr_task = asyncio.create_task(self._read_stderr(proc, errors),
                                          name=f"{self.name}:stderr")
        watch_task = asyncio.create_task(self._watch_first_bytes(proc),
                                         name=f"{self.name}:watch")
        space_task = asyncio.create_task(self._stop_when_full(proc), name=f"{self.name}:space")
        try:
            assert proc.stdout is not None
            while line := await proc.stdout.readline():
                parsed = parse_segment_line(line.decode(errors="replace"))
                if parsed is None:
                    continue
                name, start_s, end_s = parsed
                timed = timer.segment_finished(start_s, end_s, self._clock.now_us())
                if produced == 0:
                    self._on_first_segment(timed.start_utc_us, errors)
                produced += 1
                self.state.segments += 1
                seq = int(Path(name).stem.rsplit("_", 1)[-1])
                self.state.current_key = self._store.key_of(
                    self._folder / f"{run_id}_{seq + 1:06d}.mp4")
                self._writer.submit(FinishedFile(
                    self.target.camera_id, self.stream, self._store.key_of(self._folder / name),
                    timed.start_utc_us, timed.end_utc_us, timed.clock_drift_ms))
                self._last_end_us = timed.end_utc_us
                self._run_reported = True
            await proc.wait()
        finally:
            if proc.returncode is None:
                await self._terminate(proc)
            watch_task.cancel()
            space_task.cancel()
            await asyncio.gather(stderr_task, watch_task, space_task, return_exceptions=True)
            self._proc = None
            leftover = self.state.current_key
            self.state.current_key = None
        code = proc.returncode
        self._gap_reason = exit_cause(code, errors)
        died = _how_it_ended(code)
        self.state.last_error = " | ".join(errors[-3:]) or died
        salvaged = await self._salvage(leftover)
        if salvaged:
            self.state.last_error = f"{self.state.last_error} | {salvaged}"
        return produced > 0

    async def _salvage(self, key: str | None) -> str | None:
        """Index at once the file this run left unfinished (ffmpeg died before reporting it):
        up to its last complete fragment, or delete it and say why. Returns what was done."""
        if key is None or not await asyncio.to_thread(self._store.exists, key):
            return None  # ffmpeg finished and reported it (or never created it)
        try:
            scan, line = await asyncio.to_thread(salvage_file, self._store, key)
        except OSError as exc:
            log.error("%s: unfinished segment %s not salvaged: %s", self.name, key, exc)
            return f"segment {key} not salvaged: {exc}"
        if scan is None:
            log.warning("%s: unfinished segment lost: %s", self.name, line)
            return f"segment lost: {line}"
        duration_us = round(scan.duration_s * 1e6)
        start = self._last_end_us if self._run_reported else None
        if start is None:  # the run's first file: as startup recovery estimates it
            mtime_us = await asyncio.to_thread(
                lambda: self._store.path_of(key).stat().st_mtime_ns // 1000)
            start = mtime_us - duration_us
        self._writer.submit(FinishedFile(self.target.camera_id, self.stream, key, start,
                                         start + duration_us, 0, recovered=True))
        self._last_end_us = start + duration_us
        self.state.segments += 1
        log.warning("%s: unfinished segment indexed: %s (%.2f s)", self.name, line,
                    scan.duration_s)
        return None

    def _on_first_segment(self, start_utc_us: int, errors: list[str]) -> None:
        last = self._last_end_us
        if last is not None and start_utc_us - last > RESTART_GAP_MIN_US:
            self._writer.submit(GapRow(self.target.camera_id, self.stream, last, start_utc_us,
                                       self._gap_reason, self.state.last_error))
        errors.clear()

    async def _wait_for_space(self) -> None:
        """While the space guard says the disk is full, do not start ffmpeg; the hole is a
        `storage_error` gap once recording resumes."""
        space = self._space
        if space is None or space.writable():
            return
        self._gap_reason = "storage_error"
        self._set_state("storage_full", space.alert() or "stockage plein")
        log.error("%s: storage full, recording interrupted until space comes back", self.name)
        await space.wait_writable()
        log.warning("%s: space is back, recording resumes", self.name)

    async def _stop_when_full(self, proc: asyncio.subprocess.Process) -> None:
        if self._space is None:
            return
        await self._space.wait_full()
        if proc.returncode is None:
            await self._terminate(proc)

    async def _watch_first_bytes(self, proc: asyncio.subprocess.Process) -> None:
        """Report `recording` as soon as video reaches the disk, not at the first cut."""
        while proc.returncode is None:
            path = self.current_path()
            if path is not None and path.exists() and path.stat().st_size > 4096:
                self._set_state("recording")
                return
            await asyncio.sleep(0.2)

    async def _read_stderr(self, proc: asyncio.subprocess.Process, errors: list[str]) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            text = redact_urls(line.decode(errors="replace").strip())
            if text:
                errors.append(text)
                del errors[:-10]
                log.info("%s: ffmpeg: %s", self.name, text)

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM lets ffmpeg finish the open segment and report it; SIGKILL after 5 s."""
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def stop(self) -> None:
        """Stop ffmpeg cleanly: the open segment is finished and handed to the writer."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            await self._terminate(proc)
        # let _run_once read ffmpeg's last report before the task is cancelled
        for _ in range(100):
            if self._proc is None:
                break
            await asyncio.sleep(0.02)


def _how_it_ended(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"ffmpeg killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"ffmpeg killed by signal {-code}"
    return f"ffmpeg exited with code {code}"


class RecorderSupervisor:
    def __init__(self, registry: CameraRegistry, deps: RecorderDeps,
                 reconcile_interval_s: float = 2.0) -> None:
        self._registry = registry
        self._deps = deps
        self._status = deps.status
        self._interval = reconcile_interval_s
        self._tasks: dict[tuple[int, str], tuple[StreamRecorder, asyncio.Task[None], int]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self.retired_restarts = 0  # restarts of recorders stopped since (metrics: monotonic)
        registry.on_change(self.poke)

    def poke(self) -> None:
        """Ask for a reconcile now (thread-safe enough: set from the loop or a thread)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._wake.set()
        elif hasattr(self, "_loop"):
            self._loop.call_soon_threadsafe(self._wake.set)

    def recorder(self, camera_id: int, stream: str) -> StreamRecorder | None:
        entry = self._tasks.get((camera_id, stream))
        return entry[0] if entry else None

    def recorders(self) -> list[StreamRecorder]:
        return [entry[0] for entry in self._tasks.values()]

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconcile failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()

    async def reconcile(self) -> None:
        if self._stopping:
            return
        targets = await asyncio.to_thread(self._registry.record_targets,
                                          self._deps.config.node)
        wanted: dict[tuple[int, str], tuple[RecordTarget, str]] = {}
        for target in targets:
            wanted[(target.camera_id, "main")] = (target, target.main_url)
            if target.sub_url:
                wanted[(target.camera_id, "sub")] = (target, target.sub_url)
        for key, (_rec, _task, version) in list(self._tasks.items()):
            if key not in wanted or wanted[key][0].config_version != version:
                await self._stop_one(key)
                if key not in wanted:
                    self._status.set(key[0], key[1], "disabled", None)
        for key, (target, url) in wanted.items():
            if key in self._tasks or self._stopping:
                continue
            rec = StreamRecorder(target, key[1], with_credentials(url, target.credentials),
                                 self._deps)
            task = asyncio.create_task(self._guard(rec), name=rec.name)
            self._tasks[key] = (rec, task, target.config_version)
            log.info("%s: started", rec.name)

    async def _guard(self, rec: StreamRecorder) -> None:
        """Restart a recorder whose task failed unexpectedly (never dies silently)."""
        while True:
            try:
                await rec.run()
                return  # it returns only when asked to stop
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s crashed; restarting in 2 s", rec.name)
                await asyncio.sleep(2)

    async def _stop_one(self, key: tuple[int, str]) -> None:
        rec, task, _ = self._tasks.pop(key)
        self.retired_restarts += max(0, rec.state.runs - 1)
        await rec.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        log.info("%s: stopped", rec.name)

    async def stop(self) -> None:
        self._stopping = True
        await asyncio.gather(*(self._stop_one(k) for k in list(self._tasks)))
