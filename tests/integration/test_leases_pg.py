"""Camera leases on real PostgreSQL: one owner under races, takeover after expiry, fencing of
a stale owner, rebalance on join, drain (decision 0012)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.engine import make_engine, migrate, session_factory
from guetteur.adapters.db.models import Camera, CameraLease, RecordingGap, Segment
from guetteur.services.leases import LeaseKeeper
from guetteur.services.segment_index import SegmentRow

_NOW_US = "(extract(epoch from clock_timestamp()) * 1000000)::bigint"


def upsert_node(sessions: sessionmaker[Session], name: str, *, draining: bool = False,
                roles: str = "recorder") -> None:
    """A cluster_node row with a fresh heartbeat on the database clock (NodeRegistry does it
    live)."""
    with sessions.begin() as s:
        s.execute(text(
            "INSERT INTO cluster_node (name, roles, version, started_utc_us, heartbeat_utc_us,"
            f" draining, stats) VALUES (:n, :r, 'test', {_NOW_US}, {_NOW_US}, :d, '{{}}')"
            f" ON CONFLICT (name) DO UPDATE SET heartbeat_utc_us={_NOW_US}, draining=:d"),
            {"n": name, "r": roles, "d": draining})


@pytest.fixture
def pg(pg_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(pg_db_url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        for i in range(1, 7):
            s.add(Camera(id=i, name=f"cam{i}", main_url=f"rtsp://127.0.0.1/{i}",
                         created_utc_us=0, updated_utc_us=0))
    yield sessions
    engine.dispose()


def _row(camera_id: int, start: int) -> SegmentRow:
    return SegmentRow(camera_id=camera_id, stream="main", storage_key=f"k/{camera_id}/{start}",
                      start_utc_us=start, end_utc_us=start + 2_000_000, size_bytes=10,
                      sha256="0" * 64, codec="avc1.4d4028", init_size_bytes=5)


def test_one_owner_under_racing_acquisitions(pg: sessionmaker[Session]) -> None:
    keepers = [LeaseKeeper(pg, f"n{i}") for i in range(6)]
    wins: list[str] = []
    barrier = threading.Barrier(len(keepers))

    def go(k: LeaseKeeper) -> None:
        barrier.wait()
        if k.acquire(1, "main") is not None:
            wins.append(k.me)

    threads = [threading.Thread(target=go, args=(k,), name=f"acq-{k.me}") for k in keepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    with pg() as s:
        lease = s.get(CameraLease, (1, "main"))
        assert lease is not None and lease.owner == wins[0] and lease.epoch == 1


def test_takeover_after_expiry_and_stale_owner_is_fenced(pg: sessionmaker[Session]) -> None:
    a = LeaseKeeper(pg, "a", ttl_s=0.5)
    b = LeaseKeeper(pg, "b", ttl_s=0.5)
    assert a.acquire(1, "main") is not None
    assert a.index_fenced([_row(1, 0)]) == []
    assert b.acquire(1, "main") is None  # held and fresh
    time.sleep(0.6)  # a is "paused": no renewal past expiry (a real TTL, on the DB clock)
    got = b.acquire(1, "main")
    assert got is not None and got.epoch == 2
    assert got.previous_reason == "node_lost" and got.last_end_utc_us == 2_000_000
    refused = a.index_fenced([_row(1, 2_000_000)])  # a wakes up with its old epoch
    assert len(refused) == 1
    assert a.renew_all() == [(1, "main")]
    assert b.index_fenced([_row(1, 4_000_000)]) == []
    assert b.index_fenced([_row(1, 6_000_000)]) == []
    with pg() as s:
        epochs = s.scalars(select(Segment.epoch).order_by(Segment.start_utc_us)).all()
        assert epochs == [1, 2, 2]
        gaps = s.execute(select(RecordingGap.start_utc_us, RecordingGap.end_utc_us,
                                RecordingGap.reason)).all()
        assert [tuple(g) for g in gaps] == [(2_000_000, 4_000_000, "node_lost")]
        lease = s.get(CameraLease, (1, "main"))
        assert lease is not None and lease.last_end_utc_us == 8_000_000


def test_renewal_keeps_the_lease(pg: sessionmaker[Session]) -> None:
    a = LeaseKeeper(pg, "a", ttl_s=0.6)
    b = LeaseKeeper(pg, "b", ttl_s=0.6)
    a.acquire(2, "main")
    for _ in range(4):
        time.sleep(0.2)
        assert a.renew_all() == []
    assert b.acquire(2, "main") is None


def test_rebalance_on_join_and_drain(pg: sessionmaker[Session]) -> None:
    weights = {(i, "main"): 1.0 for i in range(1, 7)}
    ka, kb, kc = (LeaseKeeper(pg, n) for n in "abc")
    upsert_node(pg, "a")
    upsert_node(pg, "b")
    for _ in range(2):
        for k in (ka, kb):
            k.balance(weights)
    assert sorted((len(ka.held), len(kb.held))) == [3, 3]
    upsert_node(pg, "c")  # a node joins
    for _ in range(3):
        for k in (ka, kb, kc):
            k.balance(weights)
    counts = [len(k.held) for k in (ka, kb, kc)]
    assert sum(counts) == 6 and max(counts) <= 6 / 3 + 1 and min(counts) >= 1
    upsert_node(pg, "c", draining=True)  # guetteur node drain c
    kc.balance(weights)
    assert kc.held == {}
    with pg() as s:
        reasons = s.scalars(select(CameraLease.released_reason)
                            .where(CameraLease.owner.is_(None))).all()
        assert reasons and set(reasons) == {"node_drained"}
    for _ in range(2):
        for k in (ka, kb, kc):
            k.balance(weights)
    assert kc.held == {} and len(ka.held) + len(kb.held) == 6
    with pg() as s:
        assert s.scalar(select(func.count()).select_from(CameraLease)
                        .where(CameraLease.owner == "c")) == 0
        s.execute(text("SELECT 1"))


_CHILD = r"""
import sys, time
from guetteur.adapters.db.engine import make_engine, session_factory
from guetteur.services.leases import LeaseKeeper
from guetteur.services.segment_index import SegmentRow
sessions = session_factory(make_engine(sys.argv[1]))
k = LeaseKeeper(sessions, "paused", ttl_s=1.0)
assert k.acquire(3, "main") is not None
print("held", flush=True)
start = 0
while True:
    row = SegmentRow(camera_id=3, stream="main", storage_key=f"p/{start}", start_utc_us=start,
                     end_utc_us=start + 100_000, size_bytes=1, sha256="0" * 64,
                     codec="avc1.4d4028", init_size_bytes=1)
    if k.index_fenced([row]):
        print("refused", start, flush=True)
        break
    k.renew_all()
    print("ok", start, flush=True)  # after both commits: SIGSTOP lands in the sleep, no lock held
    start += 100_000
    time.sleep(0.1)
"""


def test_sigstopped_owner_is_fenced_after_takeover(pg: sessionmaker[Session],
                                                   pg_db_url: str) -> None:
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, pg_db_url], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        child.stdout.readline()
        child.send_signal(signal.SIGSTOP)
        time.sleep(1.3)  # past the 1 s TTL: the lease is expired
        taker = LeaseKeeper(pg, "survivor", ttl_s=5.0)
        got = taker.acquire(3, "main")
        assert got is not None and got.epoch == 2 and got.previous_reason == "node_lost"
        with pg() as s:
            before = s.scalar(select(func.count()).select_from(Segment))
        child.send_signal(signal.SIGCONT)
        out, _ = child.communicate(timeout=20)
        assert out.strip().splitlines()[-1].startswith("refused")
        with pg() as s:
            after = s.scalar(select(func.count()).select_from(Segment)
                             .where(Segment.epoch == 1))
        assert after == before  # nothing indexed by the stale owner once taken over
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
