"""Shared fixtures.

- `cheap_password_hashing` (autouse, session): in this process, argon2id with the lowest
  cost (1 pass, 8 MiB) instead of RFC 9106's (3 passes, 64 MiB; ~0.18 s a hash here), so the
  hundreds of accounts the tests create and log in do not cost minutes. Hashes keep their
  parameters, so the code paths are the same; servers started as child processes keep the
  production cost.
- `db_url`: a fresh database per test, on SQLite and (for tests that use `any_db_url`) on
  PostgreSQL at 127.0.0.1:5432 too: the same tests run on both.
- `verify_cleanup` (autouse): a test that leaves a child process or a thread behind fails,
  as in Home Assistant's test suite.
- The login throttle lives in the database (table `login_throttle`), so a test's fresh
  database starts with no failures counted: no per-process state to reset between tests.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

PG_ADMIN_URL = os.environ.get("GUETTEUR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _interpreter_helper(p: psutil.Process) -> bool:
    """multiprocessing's resource tracker: started with the first worker process the
    interpreter spawns (the plate-reading pool), it lives as long as the interpreter."""
    return any("resource_tracker" in part for part in p.cmdline())


def _started_by_test(me: psutil.Process, before: set[int]) -> list[psutil.Process]:
    """Processes started during the test by this process or by processes the test started.
    Children of longer-lived fixtures' processes (a session server's ffmpeg, the browser's
    helpers, started when the first page opens) are those fixtures' business."""
    result = []
    for p in me.children(recursive=True):
        try:
            if p.pid not in before and p.ppid() not in before and _alive(p) \
                    and not _interpreter_helper(p):
                result.append(p)
        except psutil.Error:
            continue
    return result


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    from argon2 import PasswordHasher

    from guetteur.services import accounts

    saved = accounts._HASHER, accounts._DUMMY_HASH
    accounts._HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    accounts._DUMMY_HASH = accounts._HASHER.hash("timing-equaliser")
    yield
    accounts._HASHER, accounts._DUMMY_HASH = saved


@pytest.fixture(autouse=True)
def verify_cleanup() -> Iterator[None]:
    threads_before = set(threading.enumerate())
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    yield
    deadline = time.monotonic() + 5
    while True:
        children = _started_by_test(me, before)
        threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()
                   and not t.name.startswith(("asyncio_", "ThreadPoolExecutor", "AnyIO"))]
        if not children and not threads:
            return
        if time.monotonic() > deadline:
            names = []
            for p in children:
                try:
                    names.append(" ".join(p.cmdline()[:3]))
                    p.kill()
                except psutil.Error:
                    continue
            names += [t.name for t in threads]
            if names:
                pytest.fail(f"test left processes or threads behind: {names}")
            return
        time.sleep(0.1)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'guetteur.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on SQLite and on PostgreSQL (a throw-away database each time)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'guetteur.db'}"
        return
    yield from _throwaway_pg()


@pytest.fixture
def pg_db_url() -> Iterator[str]:
    """A throw-away PostgreSQL database, for what only runs on PostgreSQL (the cluster:
    leases, several nodes)."""
    yield from _throwaway_pg()


def _throwaway_pg() -> Iterator[str]:
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI but not reachable at 127.0.0.1:5432")
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    import psycopg

    name = f"guetteur_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from sqlalchemy.pool import NullPool  # noqa: F401  (engines are disposed by tests)

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def make_container(tmp_path: Path) -> Iterator[object]:
    """Factory: `make_container(db_url, clock=None, **settings)` -> a bootstrap Container
    (nothing started), disposed at the end of the test."""
    from guetteur.bootstrap import build
    from guetteur.settings import Settings

    built = []

    def factory(db_url: str | None = None, clock: object = None, **settings: object) -> object:
        values: dict[str, object] = {
            "data_dir": tmp_path / "var", "secret_key": "test-secret-key-0123456789-abcdefghij",
            "segment_duration_s": 4, "reconcile_interval_s": 0.5, "backoff_max_s": 2.0}
        values.update(settings)
        s = Settings(_env_file=None, database_url=db_url or "", **values)  # type: ignore[call-arg]
        c = build(s, clock=clock)  # type: ignore[arg-type]
        built.append(c)
        return c

    yield factory
    for c in built:
        c.close()  # type: ignore[attr-defined]
