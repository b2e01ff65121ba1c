"""The audit chain on a real database (SQLite and PostgreSQL): `services.audit.verify` and
`guetteur audit verify` detect an edited, deleted, inserted or reordered event and name the
first bad one, on the serial and on the parallel path; concurrent writers (threads and another
process) never fork the chain; the chain goes on across a restart; a trail of more than
200,000 events is verified by worker processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

import guetteur.services.audit as audit_service
from guetteur.adapters.db.models import AuditEvent
from guetteur.bootstrap import Container
from guetteur.domain.audit import GENESIS, canonical_detail, event_hash
from guetteur.domain.clock import FakeClock
from guetteur.services.audit import verify
from support import REPO, wait_until

T0 = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z
S = 1_000_000
N = 30
SECRET_KEY = "test-secret-key-0123456789-abcdefghij"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def c(any_db_url: str, make_container: Any, clock: FakeClock) -> Container:
    return make_container(any_db_url, clock=clock)


def append_events(c: Container, clock: FakeClock, n: int = N) -> list[int]:
    """n events of the kinds the application writes; every third one with a case reference."""
    ids = []
    for i in range(1, n + 1):
        clock.advance(1)
        kind = ("login", "playback", "export", "live", "grant_add")[i % 5]
        ids.append(c.audit.append(
            kind, user_id=i % 4 + 1, username=f"agent{i % 4}", camera_id=i % 3 + 1,
            range_from_utc_us=T0 - 60 * S if kind in ("playback", "export") else None,
            range_to_utc_us=T0 if kind in ("playback", "export") else None,
            client_addr=f"10.0.0.{i}", reason=f"PV 2026/{i}" if i % 3 == 0 else None,
            detail={"n": i, "note": "réquisition"}))
    return ids


def rows(c: Container) -> list[AuditEvent]:
    with c.sessions() as db:
        return list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def sql(c: Container, statement: str, **params: Any) -> None:
    with c.engine.begin() as conn:
        conn.execute(text(statement), params)


def cli(c: Container, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m guetteur ...` on this container's database, configured by environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUETTEUR_")}
    env.update({"GUETTEUR_DATABASE_URL": c.settings.db_url, "GUETTEUR_SECRET_KEY": SECRET_KEY,
                "GUETTEUR_DATA_DIR": str(c.settings.data_dir),
                "PYTHONPATH": str(REPO / "src")})
    return subprocess.run([sys.executable, "-m", "guetteur", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def forged_hash(prev: str, at: int, action: str, reason: str | None = None) -> str:
    return event_hash(prev, at, 1, "agent1", action, 1, None, None, "10.0.0.66",
                      canonical_detail({"forged": True}), reason)


def insert_row(c: Container, id_: int, prev: str, digest: str, at: int, action: str,
               reason: str | None = None) -> None:
    sql(c, "INSERT INTO audit_event (id, at_utc_us, user_id, username, action, camera_id, "
           "client_addr, detail, reason, prev_hash, hash) VALUES (:id, :at, 1, 'agent1', "
           ":action, 1, '10.0.0.66', :detail, :reason, :prev, :hash)",
        id=id_, at=at, action=action, detail=canonical_detail({"forged": True}), reason=reason,
        prev=prev, hash=digest)


def make_room(c: Container, k: int) -> None:
    """Move the events from id k on out of the way (keeping their order), so that a row can
    be slipped in at id k."""
    sql(c, "UPDATE audit_event SET id = id + 1000 WHERE id >= :k", k=k)


# -- each tampering, and where it is found ----------------------------------------------------
# Each returns (the id of the first bad event, a word of the problem).

def edit_field(c: Container, k: int) -> tuple[int, str]:
    sql(c, "UPDATE audit_event SET username = 'mallory' WHERE id = :k", k=k)
    return k, "modified"


def edit_range(c: Container, k: int) -> tuple[int, str]:
    sql(c, "UPDATE audit_event SET range_from_utc_us = :t, at_utc_us = at_utc_us + 1 "
           "WHERE id = :k", k=k, t=T0 - 3600 * S)
    return k, "modified"


def edit_reason(c: Container, k: int) -> tuple[int, str]:
    k = k - k % 3  # an event that has a case reference
    sql(c, "UPDATE audit_event SET reason = 'PV 2026/0' WHERE id = :k", k=k)
    return k, "modified"


def remove_reason(c: Container, k: int) -> tuple[int, str]:
    k = k - k % 3
    sql(c, "UPDATE audit_event SET reason = NULL WHERE id = :k", k=k)
    return k, "modified"


def delete_row(c: Container, k: int) -> tuple[int, str]:
    sql(c, "DELETE FROM audit_event WHERE id = :k", k=k)
    return k + 1, "link broken"


def insert_forged(c: Container, k: int) -> tuple[int, str]:
    """A well-formed row (its own hash is right) slipped in before event k. Chaining it to
    event k-1 is refused by the database (two events cannot follow the same one), so it
    names a previous hash of its own."""
    [prev] = [r.hash for r in rows(c) if r.id == k - 1]
    make_room(c, k)
    at = T0 + k * S - S // 2
    with pytest.raises(IntegrityError):
        insert_row(c, k, prev, forged_hash(prev, at, "playback"), at, "playback")
    fake_prev = hashlib.sha256(b"plausible").hexdigest()
    insert_row(c, k, fake_prev, forged_hash(fake_prev, at, "playback"), at, "playback")
    return k, "link broken"


def insert_relinked(c: Container, k: int) -> tuple[int, str]:
    """A forged row chained to event k-1, and event k re-pointed at it. Without the chain's
    HMAC key the forger cannot give its row a valid hash: the forged row itself is named."""
    [prev] = [r.hash for r in rows(c) if r.id == k - 1]
    make_room(c, k)
    at = T0 + k * S - S // 2
    digest = forged_hash(prev, at, "export", "PV 2026/999")
    sql(c, "UPDATE audit_event SET prev_hash = :h WHERE id = :k", h=digest, k=k + 1000)
    insert_row(c, k, prev, digest, at, "export", "PV 2026/999")
    return k, "modified"


def swap_rows(c: Container, k: int) -> tuple[int, str]:
    """Events k and k+5 change places (every column but the id)."""
    sql(c, "UPDATE audit_event SET id = -1 WHERE id = :k", k=k)
    sql(c, "UPDATE audit_event SET id = :k WHERE id = :j", k=k, j=k + 5)
    sql(c, "UPDATE audit_event SET id = :j WHERE id = -1", j=k + 5)
    return k, "link broken"


def swap_neighbours(c: Container, k: int) -> tuple[int, str]:
    sql(c, "UPDATE audit_event SET id = -1 WHERE id = :k", k=k)
    sql(c, "UPDATE audit_event SET id = :k WHERE id = :j", k=k, j=k + 1)
    sql(c, "UPDATE audit_event SET id = :j WHERE id = -1", j=k + 1)
    return k, "link broken"


TAMPERINGS: dict[str, Callable[[Container, int], tuple[int, str]]] = {
    "edit-field": edit_field, "edit-range-and-time": edit_range, "edit-reason": edit_reason,
    "remove-reason": remove_reason, "delete": delete_row, "insert-forged": insert_forged,
    "insert-relinked": insert_relinked, "reorder": swap_rows,
    "reorder-neighbours": swap_neighbours,
}


def test_an_intact_chain_verifies_through_the_service_and_the_cli(
        c: Container, clock: FakeClock, tmp_path: Path) -> None:
    assert verify(c.settings.db_url, c.sessions, key=c.audit.key).problem == "ok (empty trail)"
    append_events(c, clock)
    report = verify(c.settings.db_url, c.sessions, key=c.audit.key)
    assert (report.ok, report.events, report.first_bad_id) == (True, N, None)
    chain = rows(c)
    assert chain[0].prev_hash == GENESIS
    assert [r.reason for r in chain][:6] == [None, None, "PV 2026/3", None, None, "PV 2026/6"]

    res = cli(c, "audit", "verify", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["ok"] is True
    assert json.loads(res.stdout)["events"] == N
    res = cli(c, "audit", "verify", cwd=tmp_path)
    assert res.returncode == 0 and f"{N} événements" in res.stdout


@pytest.mark.parametrize("kind", list(TAMPERINGS))
def test_each_tampering_is_named_by_verify_and_by_the_cli(
        c: Container, clock: FakeClock, tmp_path: Path, kind: str) -> None:
    append_events(c, clock)
    bad, word = TAMPERINGS[kind](c, 14)
    report = verify(c.settings.db_url, c.sessions, key=c.audit.key)
    assert not report.ok
    assert report.first_bad_id == bad, report
    assert word in report.problem

    res = cli(c, "audit", "verify", "--json", cwd=tmp_path)
    assert res.returncode == 3, (res.stdout, res.stderr)
    out = json.loads(res.stdout)
    assert (out["ok"], out["first_bad_id"]) == (False, bad)
    assert word in out["problem"]


@pytest.mark.parametrize("kind", list(TAMPERINGS))
@pytest.mark.parametrize("where", ["last-of-first-slice", "first-of-second-slice"])
def test_each_tampering_is_named_on_the_parallel_path(
        c: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, kind: str,
        where: str) -> None:
    """With two slices (ids 1-15 and 16-30) the tampering sits at the boundary, where only
    the check between slices can see a broken link."""
    monkeypatch.setattr(audit_service, "_PARALLEL_MIN", 1)
    append_events(c, clock)
    report = verify(c.settings.db_url, c.sessions, key=c.audit.key)
    assert (report.ok, report.events) == (True, N)
    k = 15 if where == "last-of-first-slice" else 16
    if kind == "reorder" and where == "last-of-first-slice":
        k = 12  # 12 and 17 straddle the boundary
    bad, word = TAMPERINGS[kind](c, k)
    report = verify(c.settings.db_url, c.sessions, key=c.audit.key)
    assert not report.ok
    assert report.first_bad_id == bad, report
    assert word in report.problem


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_the_first_of_several_tamperings_is_named(
        c: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
        parallel: bool) -> None:
    if parallel:
        monkeypatch.setattr(audit_service, "_PARALLEL_MIN", 1)
    append_events(c, clock)
    edit_field(c, 25)
    edit_field(c, 20)
    delete_row(c, 16)  # the first of the second slice: its link is all that shows it
    assert verify(c.settings.db_url, c.sessions, key=c.audit.key).first_bad_id == 17
    delete_row(c, 1)  # the very first event
    assert verify(c.settings.db_url, c.sessions, key=c.audit.key).first_bad_id == 2


# -- concurrent writers -----------------------------------------------------------------------

WRITER = """
import sys, time
from pathlib import Path
from guetteur.bootstrap import build
from guetteur.settings import Settings

url, data_dir, count, ready, go, span, key_file, anchor_dir = sys.argv[1:9]
c = build(Settings(_env_file=None, database_url=url, data_dir=data_dir,
                   secret_key="test-secret-key-0123456789-abcdefghij",
                   audit_key_file=key_file, audit_anchor_dir=anchor_dir))
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.005)
started = time.time()
for i in range(int(count)):
    c.audit.append("process_write", username="process", detail={"seq": i})
Path(span).write_text(f"{started} {time.time()}")
c.close()
"""


def test_threads_and_another_process_append_without_forking_the_chain(
        c: Container, tmp_path: Path) -> None:
    threads, per_thread, from_process = 4, 50, 150
    ready, go, span = tmp_path / "ready", tmp_path / "go", tmp_path / "span"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, c.settings.db_url, str(tmp_path / "proc"),
         str(from_process), str(ready), str(go), str(span),
         str(c.settings.audit_key_path), str(c.settings.audit_anchor_path)],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")}, stderr=subprocess.PIPE, text=True)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(per_thread):
                c.audit.append("thread_write", username=f"thread{n}", detail={"seq": i})
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    try:
        wait_until(lambda: ready.exists() or proc.poll() is not None, 60, "the writer process")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        workers = [threading.Thread(target=write, args=(n,), name=f"audit-writer-{n}")
                   for n in range(threads)]
        go.touch()
        threads_started = time.time()
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        threads_ended = time.time()
        assert proc.wait(120) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert errors == []

    chain = rows(c)
    assert len(chain) == threads * per_thread + from_process
    report = verify(c.settings.db_url, c.sessions, key=c.audit.key)
    assert (report.ok, report.events) == (True, len(chain)), report
    # each writer's events are in its own order
    for name in [f"thread{n}" for n in range(threads)] + ["process"]:
        seqs = [json.loads(r.detail)["seq"] for r in chain if r.username == name]
        assert seqs == list(range(len(seqs))) and seqs, name
    # and the process was appending while the threads were (on SQLite its appends may all
    # land after theirs: the busy handler is not fair, but it was waiting on them)
    process_started, process_ended = map(float, span.read_text().split())
    assert process_started < threads_ended and threads_started < process_ended


def test_the_chain_goes_on_across_a_restart(any_db_url: str, make_container: Any,
                                            clock: FakeClock) -> None:
    first = make_container(any_db_url, clock=clock)
    append_events(first, clock, 5)
    last = rows(first)[-1]
    first.close()

    again = make_container(any_db_url, clock=clock)
    new_id = again.audit.append("login", username="after-restart")
    [event] = [r for r in rows(again) if r.id == new_id]
    assert event.prev_hash == last.hash and new_id > last.id
    append_events(again, clock, 5)
    report = verify(again.settings.db_url, again.sessions, key=again.audit.key)
    assert (report.ok, report.events) == (True, 11)


# -- a large trail: verified by worker processes ----------------------------------------------

COLUMNS = ("id", "at_utc_us", "user_id", "username", "action", "camera_id", "range_from_utc_us",
           "range_to_utc_us", "client_addr", "detail", "reason", "prev_hash", "hash")


def bulk_chain(c: Container, n: int) -> list[str]:
    """n events written straight into the table with their correct hashes (as `append`
    would, much faster). Returns the hashes, in id order."""
    detail = canonical_detail({"stream": "main"})
    values = []
    hashes = []
    prev = GENESIS
    for i in range(1, n + 1):
        at = T0 + i * 1000
        action = "playback" if i % 2 else "live"
        reason = f"PV {i}" if i % 7 == 0 else None
        digest = event_hash(prev, at, i % 50, f"agent{i % 50}", action, i % 40, at - 60 * S,
                            at, "10.1.2.3", detail, reason, key=c.audit.key)
        values.append((i, at, i % 50, f"agent{i % 50}", action, i % 40, at - 60 * S, at,
                       "10.1.2.3", detail, reason, prev, digest))
        hashes.append(digest)
        prev = digest
    raw = c.engine.raw_connection()
    try:
        cur = raw.cursor()
        names = ", ".join(COLUMNS)
        if c.settings.db_url.startswith("sqlite"):
            cur.executemany(f"INSERT INTO audit_event ({names}) VALUES "
                            f"({', '.join('?' * len(COLUMNS))})", values)
        else:
            with cur.copy(f"COPY audit_event ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in values:
                    copy.write_row(row)
            cur.execute("SELECT setval('audit_event_id_seq', %s)", (n,))
        raw.commit()
    finally:
        raw.close()
    return hashes


def test_more_than_200000_events_are_verified_by_worker_processes(
        c: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    n = audit_service._PARALLEL_MIN + 1000
    pools: list[int] = []

    class CountingPool(audit_service.ProcessPoolExecutor):  # type: ignore[misc]
        def __init__(self, workers: int) -> None:
            pools.append(workers)
            super().__init__(workers)

    monkeypatch.setattr(audit_service, "ProcessPoolExecutor", CountingPool)
    started = time.monotonic()
    hashes = bulk_chain(c, n)
    written = time.monotonic() - started

    report = verify(c.settings.db_url, c.sessions, key=c.audit.key)
    assert (report.ok, report.events, report.first_bad_id) == (True, n, None), report
    assert pools == [2]
    # the service appends after the bulk rows, chained to the last of them
    new_id = c.audit.append("login", username="after-bulk")
    assert rows_after(c, n)[0].prev_hash == hashes[-1] and new_id == n + 1

    # an edit deep in the second slice, then a deletion at the start of the second slice
    sql(c, "UPDATE audit_event SET client_addr = '10.9.9.9' WHERE id = :k", k=n - 10)
    report = verify(c.settings.db_url, c.sessions, key=c.audit.key)
    assert report.first_bad_id == n - 10 and "modified" in report.problem
    boundary = 1 + (n + 1 - 1) // 2 + 1  # first id of the second slice (lo + step)
    sql(c, "DELETE FROM audit_event WHERE id = :k", k=boundary)
    report = verify(c.settings.db_url, c.sessions, key=c.audit.key)
    assert report.first_bad_id == boundary + 1 and "link broken" in report.problem
    assert len(pools) == 3
    assert time.monotonic() - started < 60, f"bulk write {written:.1f} s"


def rows_after(c: Container, id_: int) -> list[AuditEvent]:
    with c.sessions() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.id > id_)
                               .order_by(AuditEvent.id)))


def test_a_chain_rewritten_without_the_key_is_detected(sqlite_url: str,
                                                        make_container: Any) -> None:
    """Someone with write access to the database edits an event and recomputes every later
    hash with plain SHA-256: the HMAC key (derived from the secret key, not in the database)
    is what they lack, so verification names the edited event."""
    c = make_container(sqlite_url)
    for i in range(6):
        c.audit.append("playback", username="agent", camera_id=1, detail={"i": i})
    with c.sessions() as db:
        rows = db.execute(text("SELECT id, at_utc_us, user_id, username, action, camera_id, "
                               "range_from_utc_us, range_to_utc_us, client_addr, detail, "
                               "reason FROM audit_event ORDER BY id")).all()
    with c.engine.begin() as conn:
        prev_hash = conn.execute(text("SELECT hash FROM audit_event WHERE id = :i"),
                                 {"i": rows[1].id}).scalar_one()
        for r in rows[2:]:
            detail = r.detail if r.id != rows[2].id else canonical_detail({"i": "edited"})
            digest = event_hash(prev_hash, r.at_utc_us, r.user_id, r.username, r.action,
                                r.camera_id, r.range_from_utc_us, r.range_to_utc_us,
                                r.client_addr, detail, r.reason)  # no key: plain SHA-256
            conn.execute(text("UPDATE audit_event SET detail=:d, prev_hash=:p, hash=:h "
                              "WHERE id=:i"), {"d": detail, "p": prev_hash + "~", "h": digest,
                                               "i": r.id})
            prev_hash = digest
        # second pass: set the real links now that the temporary ones freed the unique index
        prev_hash = conn.execute(text("SELECT hash FROM audit_event WHERE id = :i"),
                                 {"i": rows[1].id}).scalar_one()
        for r in rows[2:]:
            digest = conn.execute(text("SELECT hash FROM audit_event WHERE id = :i"),
                                  {"i": r.id}).scalar_one()
            conn.execute(text("UPDATE audit_event SET prev_hash=:p WHERE id=:i"),
                         {"p": prev_hash, "i": r.id})
            prev_hash = digest
    report = verify(c.settings.db_url, c.sessions, key=c.audit.key)
    assert not report.ok and report.first_bad_id == rows[2].id
    assert "modified" in report.problem
