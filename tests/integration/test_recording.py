"""The recorder against real simulated RTSP cameras, real ffmpeg and a real database.

Covers: segments appear, are playable and have the right durations; a graceful stop leaves
nothing unindexed; a camera that dies and comes back gives a reconnection and a gap row; a
settings change applies without restart; live viewers never add upstream connections.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from guetteur.domain.cameras import CameraSpec
from guetteur.services.check import check
from support import SimulatedCameras

pytestmark = pytest.mark.integration


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatedCameras]:
    cams = SimulatedCameras(tmp_path, cameras=2).start()
    try:
        yield cams
    finally:
        cams.stop()


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "format=duration:stream=codec_name,width", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    assert data["streams"][0]["codec_name"] == "h264"
    return float(data["format"]["duration"])


async def wait_for(condition: Any, timeout_s: float, what: str) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = await asyncio.to_thread(condition)
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def add_camera(c: Any, sim: SimulatedCameras, index: int = 0, sub: bool = True) -> int:
    view = c.registry.add(CameraSpec(name=f"CAM-{index + 1}", main_url=sim.url(index),
                                     sub_url=sim.url(index, "sub") if sub else None))
    return int(view.id)


def main_segments(c: Any, cam: int) -> int:
    s = c.index.stats().get((cam, "main"))
    return s.segments if s else 0


async def test_segments_are_recorded_playable_and_complete_after_stop(
        any_db_url: str, make_container: Any, sim: SimulatedCameras) -> None:
    c = make_container(any_db_url)
    cam = add_camera(c, sim)
    await c.start(purge=False)
    try:
        await wait_for(lambda: main_segments(c, cam) >= 3, 40, "three main segments")
    finally:
        await c.stop()
    segs = c.index.covering(cam, "main", 0, 2**62)
    subs = c.index.covering(cam, "sub", 0, 2**62)
    assert len(segs) >= 4 and len(subs) >= 3  # the open segment is finished at stop
    for seg in segs:
        path = c.store.path_of(seg.storage_key)
        media_s = ffprobe_duration(path)
        assert abs(media_s - seg.duration_s) < 0.15, (seg, media_s)
        assert seg.codec.startswith("avc1.") and seg.size_bytes == path.stat().st_size
    for seg in segs[1:-1]:  # cut on keyframes (every 2 s) after 4 s
        assert 3.9 <= seg.duration_s <= 6.1
    for a, b in itertools.pairwise(segs):  # contiguous within a few ms
        assert abs(b.start_utc_us - a.end_utc_us) < 50_000
    report = check(c.sessions, c.store)
    assert report.clean, report
    assert not report.being_written


async def test_camera_down_then_back_gives_reconnection_and_gap(
        sqlite_url: str, make_container: Any, tmp_path: Path) -> None:
    sim = SimulatedCameras(tmp_path, cameras=1).start()
    c = make_container(sqlite_url, rtsp_timeout_s=2.0)
    cam = add_camera(c, sim, sub=False)
    await c.start(purge=False)
    try:
        await wait_for(lambda: main_segments(c, cam) >= 1, 30, "a first segment")
        rec = c.supervisor.recorder(cam, "main")
        sim.kill()
        await wait_for(lambda: rec.state.state == "reconnecting", 20, "reconnecting state")
        await asyncio.sleep(2)
        await asyncio.to_thread(sim.start)
        await wait_for(lambda: c.index.gaps(cam), 40, "a gap row after reconnection")
        await wait_for(lambda: rec.state.state == "recording", 20, "recording again")
    finally:
        await c.stop()
        sim.stop()
    gap = c.index.gaps(cam)[0]
    assert gap.reason == "camera_offline"
    segs = c.index.covering(cam, "main", 0, 2**62)
    before = max(s.end_utc_us for s in segs if s.end_utc_us <= gap.start_utc_us)
    after = min(s.start_utc_us for s in segs if s.start_utc_us >= gap.end_utc_us)
    assert before == gap.start_utc_us and after == gap.end_utc_us
    assert gap.end_utc_us - gap.start_utc_us > 2_000_000
    assert rec.state.runs >= 2
    assert check(c.sessions, c.store).clean


async def test_settings_changes_apply_without_restart(
        sqlite_url: str, make_container: Any, sim: SimulatedCameras) -> None:
    c = make_container(sqlite_url)
    cam = add_camera(c, sim, sub=False)
    await c.start(purge=False)
    try:
        await wait_for(lambda: c.status.get(cam, "main") == "recording", 20, "recording")
        first = c.supervisor.recorder(cam, "main")
        c.registry.update(cam, enabled=False)
        await wait_for(lambda: c.supervisor.recorder(cam, "main") is None, 10, "stop")
        assert c.status.get(cam, "main") == "disabled"
        c.registry.update(cam, enabled=True, main_url=sim.url(1))
        await wait_for(lambda: c.supervisor.recorder(cam, "main") is not None, 10, "restart")
        second = c.supervisor.recorder(cam, "main")
        assert second is not first and second.target.main_url == sim.url(1)
        await wait_for(lambda: c.status.get(cam, "main") == "recording", 20, "recording again")
        # A new camera added by another process (the CLI) is picked up by the periodic check.
        other = make_container(c.settings.database_url or c.settings.db_url)
        cam2 = other.registry.add(CameraSpec(name="CAM-CLI", main_url=sim.url(1))).id
        await wait_for(lambda: c.supervisor.recorder(cam2, "main") is not None, 10, "new cam")
    finally:
        await c.stop()


def upstream_connections(port: int) -> int:
    me = psutil.Process()
    count = 0
    for proc in [me, *me.children(recursive=True)]:
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        count += sum(1 for k in conns if k.raddr and k.raddr.port == port
                     and k.status == psutil.CONN_ESTABLISHED)
    return count


def test_live_viewers_share_one_upstream_connection(
        sqlite_url: str, make_container: Any, sim: SimulatedCameras) -> None:
    from starlette.testclient import TestClient

    from guetteur.web.app import create_app
    from guetteur.web.session import COOKIE

    c = make_container(sqlite_url)
    cam = add_camera(c, sim)
    viewer = c.accounts.add_user("operateur", "correct-horse-battery", "operator")
    c.grants.add("operateur", "live", "cameras", str(cam))
    with TestClient(create_app(c)) as client:
        client.cookies.set(COOKIE, c.accounts.open_session(viewer, "testclient"))
        from support import wait_until

        wait_until(lambda: c.status.get(cam, "main") == "recording", 30, "recording")
        assert upstream_connections(sim.port) == 2  # main + sub, by the recorder
        sockets = [client.websocket_connect(f"/api/cameras/{cam}/live?stream=main")
                   for _ in range(5)]
        opened = [s.__enter__() for s in sockets]
        try:
            for ws in opened:
                hello = json.loads(ws.receive_text())
                assert hello["type"] == "init" and "avc1." in hello["mime"]
                init = ws.receive_bytes()
                assert init[4:8] == b"ftyp"
                frag = ws.receive_bytes()
                assert frag[4:8] == b"moof"
            assert upstream_connections(sim.port) == 2
            assert c.live.viewers() == {(cam, "main"): 5}
        finally:
            for s in sockets:
                s.__exit__(None, None, None)
    events = [e for e in _audit_actions(c) if e in ("live", "live_end")]
    assert events.count("live") == 5 and events.count("live_end") == 5


def _audit_actions(c: Any) -> list[str]:
    from sqlalchemy import select

    from guetteur.adapters.db.models import AuditEvent

    with c.sessions() as db:
        return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
