"""What the background jobs (evidence exports, plate reading) have in common: their progress
and time left, taking a queued job atomically, failing the jobs a killed process left running,
and the one thread per kind of job that runs the queue in order.

A job table has the columns `id`, `state` (queued, running, done, failed, cancelled, and for
exports awaiting_approval), `started_utc_us`, `finished_utc_us`, `error` and
`cancel_requested`."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from guetteur.domain.clock import Clock

log = logging.getLogger(__name__)

INTERRUPTED = "interrompue (arrêt du serveur)"


def fraction_done(state: str, done: int, total: int) -> float:
    """0..1; a finished job is 1 whatever its counters say."""
    if state == "done":
        return 1.0
    return min(1.0, done / total) if total else 0.0


def time_left_s(state: str, started_utc_us: int | None, fraction: float,
                now_us: int) -> float | None:
    """Seconds left at the pace so far; None until there is a pace to go by (1 %)."""
    if state != "running" or not started_utc_us or fraction <= 0.01:
        return None
    elapsed = (now_us - started_utc_us) / 1e6
    return max(0.0, elapsed * (1 - fraction) / fraction)


class JobProgress(ABC):
    """Progress and time left of a job's view (a frozen dataclass with `state` and
    `started_utc_us`) that says what it counts in `counts()` (done, total)."""

    state: str
    started_utc_us: int | None

    @abstractmethod
    def counts(self) -> tuple[int, int]:
        """(units done, units in all): bytes of an export, segments of a plate analysis."""

    @property
    def progress(self) -> float:
        return fraction_done(self.state, *self.counts())

    def eta_s(self, now_us: int) -> float | None:
        return time_left_s(self.state, self.started_utc_us, self.progress, now_us)


class JobTable:
    """The state changes of one job table that every runner needs."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, model: Any) -> None:
        self._sessions = sessions
        self._clock = clock
        self._model = model

    def transition(self, job_id: int, from_state: str, **values: Any) -> bool:
        """Set `values` on the job if it is in `from_state`: True for exactly one of several
        callers racing to do so."""
        m = self._model
        with self._sessions.begin() as db:
            result = db.execute(update(m).where(m.id == job_id, m.state == from_state)
                                .values(**values))
            return isinstance(result, CursorResult) and result.rowcount == 1

    def claim(self, job_id: int) -> bool:
        """Take a queued job: True for exactly one caller, False if it is not queued."""
        return self.transition(job_id, "queued", state="running",
                               started_utc_us=self._clock.now_us())

    def next_queued(self) -> int | None:
        m = self._model
        with self._sessions() as db:
            job_id = db.scalar(select(m.id).where(m.state == "queued").order_by(m.id).limit(1))
        return None if job_id is None else int(job_id)

    def fail_interrupted(self) -> int:
        """Jobs left `running` by a killed process are failed (they are not resumed)."""
        m = self._model
        with self._sessions.begin() as db:
            result = db.execute(update(m).where(m.state == "running").values(
                state="failed", error=INTERRUPTED, finished_utc_us=self._clock.now_us()))
            return result.rowcount if isinstance(result, CursorResult) else 0

    def request_cancel(self, job_id: int, cancel_now: tuple[str, ...] = ("queued",)) -> None:
        """Ask a job to stop: one in a state of `cancel_now` is cancelled at once, a running
        one stops at its runner's next check."""
        m = self._model
        with self._sessions.begin() as db:
            db.execute(update(m).where(m.id == job_id).values(cancel_requested=True))
            if cancel_now:
                db.execute(update(m).where(m.id == job_id, m.state.in_(cancel_now)).values(
                    state="cancelled", finished_utc_us=self._clock.now_us()))

    def cancel_requested(self, job_id: int) -> bool:
        m = self._model
        with self._sessions() as db:
            return bool(db.scalar(select(m.cancel_requested).where(m.id == job_id)))


class JobRunner:
    """One thread that runs the queued jobs of a table one after the other, woken when a job
    is queued and every `poll_s` otherwise (a job queued by another process). `tick`, if
    given, runs every `tick_every_s` before looking at the queue."""

    def __init__(self, name: str, table: JobTable, run: Callable[[int], object],
                 poll_s: float = 2.0, tick: Callable[[], object] | None = None,
                 tick_every_s: float = 30.0) -> None:
        self._name = name
        self._table = table
        self._run = run
        self._poll_s = poll_s
        self._tick = tick
        self._tick_every_s = tick_every_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """True once stop() is called: a running job checks it with its cancel flag, ends
        as failed (interrupted) and the thread exits."""
        return self._stop.is_set()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking jobs and interrupt the running one at its next check (the thread is a
        daemon: one that does not end within the timeout is left behind, and its job is failed
        at the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            if self._thread.is_alive():
                log.warning("%s: still running a job after %.0f s; left behind", self._name,
                            timeout_s)
            self._thread = None

    def _work(self) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            if self._tick is not None and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._tick_every_s
                try:
                    self._tick()
                except Exception:
                    log.exception("%s: periodic step failed", self._name)
            try:
                job_id = self._table.next_queued()
                if job_id is not None and self._table.claim(job_id):
                    self._run(job_id)
                    continue
                if job_id is not None:
                    continue  # another runner took it: look again at once
            except Exception:  # the runner must survive any job and any database hiccup
                log.exception("%s: runner error", self._name)
            self._wake.wait(timeout=self._poll_s)
            self._wake.clear()
