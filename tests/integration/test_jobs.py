"""The background-job plumbing shared by evidence exports and plate reading: one claimant per
job, interrupted jobs failed at start, cancel, the runner's order and its stop."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from guetteur.adapters.db.engine import make_engine, migrate, session_factory
from guetteur.adapters.db.models import PlateJob
from guetteur.domain.clock import FakeClock
from guetteur.services.jobs import (
    INTERRUPTED,
    JobRunner,
    JobTable,
    fraction_done,
    time_left_s,
)

T0 = 1_790_000_000_000_000


@pytest.fixture
def table(any_db_url: str) -> Any:
    engine = make_engine(any_db_url)
    migrate(engine)
    sessions = session_factory(engine)
    yield JobTable(sessions, FakeClock(T0), PlateJob), sessions
    engine.dispose()


def _job(sessions: Any, state: str = "queued") -> int:
    with sessions.begin() as db:
        row = PlateJob(case_id=None, camera_ids="[1]", start_utc_us=0, end_utc_us=1,
                       requested_by="test", requested_utc_us=T0, state=state,
                       cancel_requested=False)
        db.add(row)
        db.flush()
        return int(row.id)


def _state(sessions: Any, job_id: int) -> tuple[str, str | None, bool]:
    with sessions() as db:
        row = db.get(PlateJob, job_id)
        return row.state, row.error, row.cancel_requested


def test_exactly_one_of_many_racing_claimants_gets_the_job(table: Any) -> None:
    jobs, sessions = table
    job_id = _job(sessions)
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: jobs.claim(job_id), range(8)))
    assert wins.count(True) == 1
    assert _state(sessions, job_id)[0] == "running"
    assert not jobs.claim(job_id)


def test_jobs_left_running_by_a_killed_process_are_failed_the_others_kept(table: Any) -> None:
    jobs, sessions = table
    running, queued, done = _job(sessions, "running"), _job(sessions), _job(sessions, "done")
    assert jobs.fail_interrupted() == 1
    assert _state(sessions, running)[:2] == ("failed", INTERRUPTED)
    assert _state(sessions, queued)[0] == "queued" and _state(sessions, done)[0] == "done"


def test_cancel_ends_a_queued_job_at_once_and_flags_a_running_one(table: Any) -> None:
    jobs, sessions = table
    queued, running = _job(sessions), _job(sessions, "running")
    jobs.request_cancel(queued)
    jobs.request_cancel(running)
    assert _state(sessions, queued) == ("cancelled", None, True)
    assert _state(sessions, running) == ("running", None, True)
    assert jobs.cancel_requested(running) and not jobs.cancel_requested(_job(sessions))


def test_the_runner_takes_jobs_in_order_and_survives_a_failing_one(table: Any) -> None:
    jobs, sessions = table
    ids = [_job(sessions) for _ in range(3)]
    ran: list[int] = []

    def run(job_id: int) -> None:
        ran.append(job_id)
        if job_id == ids[0]:
            raise RuntimeError("a broken job")
        jobs.transition(job_id, "running", state="done")

    runner = JobRunner("test-runner", jobs, run, poll_s=0.1)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while len(ran) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        late = _job(sessions)
        runner.wake()
        while len(ran) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
    assert ran == [*ids, late]
    assert [_state(sessions, i)[0] for i in ids[1:]] == ["done", "done"]


def test_stop_interrupts_the_running_job_at_its_next_check(table: Any) -> None:
    jobs, sessions = table
    _job(sessions)
    started = threading.Event()
    saw_stop = threading.Event()
    runner: JobRunner

    def run(_job_id: int) -> None:
        started.set()
        while not runner.stopping:  # a job checks between units of work
            time.sleep(0.01)
        saw_stop.set()

    runner = JobRunner("test-runner", jobs, run, poll_s=0.1)
    runner.start()
    assert started.wait(20)
    t0 = time.monotonic()
    runner.stop(timeout_s=10)
    assert saw_stop.is_set() and time.monotonic() - t0 < 5


def test_progress_and_time_left() -> None:
    assert fraction_done("done", 0, 0) == 1.0
    assert fraction_done("running", 5, 0) == 0.0
    assert fraction_done("running", 30, 20) == 1.0
    assert fraction_done("running", 1, 4) == 0.25
    # 10 s for a quarter: 30 s left
    assert time_left_s("running", T0, 0.25, T0 + 10_000_000) == pytest.approx(30.0)
    assert time_left_s("running", T0, 0.005, T0 + 10_000_000) is None  # no pace yet
    assert time_left_s("queued", None, 0.0, T0) is None


def test_a_plate_job_stopped_by_shutdown_is_failed_one_cancelled_by_a_user_is_cancelled(
        sqlite_url: str, make_container: Any) -> None:
    c = make_container(sqlite_url)
    jobs = JobTable(c.sessions, c.clock, PlateJob)
    c.plates.start_worker()
    c.plates._runner._stop.set()  # what stop_worker does first: the runner takes no more jobs
    by_user, by_shutdown = _job(c.sessions), _job(c.sessions)
    assert jobs.claim(by_user) and jobs.claim(by_shutdown)
    jobs.request_cancel(by_user)
    try:
        c.plates.run(by_user)
        c.plates.run(by_shutdown)
    finally:
        c.plates.stop_worker()
    assert _state(c.sessions, by_user)[:2] == ("cancelled", None)
    assert _state(c.sessions, by_shutdown)[:2] == ("failed", INTERRUPTED)
