"""A full disk never blinds the city: the real `guetteur serve`, real simulated cameras, on a
real small file system (a 48 MiB tmpfs holding the data directory: database, reserve file and
segments share it, the hard case).

Filling it, the oldest footage that no hold protects is deleted first, across cameras, and
recording goes on; every early deletion is in the register with its reason; /healthz says
"degraded"; logins work. When everything left is under a hold, recording stops with an
explicit state, the reserve file gives the database room, nothing answers 500, and recording
resumes by itself once space comes back.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from guetteur.adapters.db.models import AuditEvent, Segment, StreamStatus
from guetteur.adapters.storage.space import RESERVE_NAME
from guetteur.bootstrap import Container, build
from guetteur.domain.cameras import CameraSpec
from guetteur.settings import Settings
from support import ServerProcess, SimulatedCameras, wait_until

pytestmark = pytest.mark.integration
MIB = 1 << 20
SECRET = "test-secret-key-0123456789-abcdefghijkl"  # the one ServerProcess gives the server
ADMIN_PW = "Mot-de-passe-admin-2026!"
GUARD = {"segment_duration_s": 2, "disk_min_free_pct": 0, "disk_min_free_bytes": 10 * MIB,
         "disk_min_free_minutes": 0, "disk_reserve_bytes": 2 * MIB,
         "disk_check_interval_s": 0.5, "reconcile_interval_s": 0.5, "backoff_max_s": 1,
         "purge_interval_s": 3600}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs",
                           str(mnt)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 48 MiB tmpfs (root or CAP_SYS_ADMIN needed): "
                    f"{done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave_bytes: int) -> None:
    """Write a file that leaves about `leave_bytes` free (not footage: nobody may delete it)."""
    size = free_bytes(path.parent) - leave_bytes
    with path.open("ab") as fh:
        fh.write(b"\0" * max(0, size))


def segments(c: Container) -> dict[int, tuple[int, int, int]]:
    with c.sessions() as db:
        return {r.id: (r.camera_id, r.start_utc_us, r.end_utc_us) for r in db.execute(
            select(Segment.id, Segment.camera_id, Segment.start_utc_us, Segment.end_utc_us))}


def events(c: Container, action: str) -> list[AuditEvent]:
    with c.sessions() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)
                               .order_by(AuditEvent.id)))


def stream_states(c: Container) -> set[str]:
    with c.sessions() as db:
        return set(db.scalars(select(StreamStatus.state)))


def login(server: ServerProcess, username: str, password: str) -> httpx.Response:
    return httpx.post(server.base_url + "/login", timeout=10,
                      data={"username": username, "password": password, "next": "/"})


def test_a_full_disk_frees_the_oldest_unprotected_footage_then_stops_explicitly(
        tmp_path: Path, small_disk: Path) -> None:
    data = small_disk / "var"
    settings = Settings(_env_file=None, data_dir=data, secret_key=SECRET,  # type: ignore[call-arg]
                        **GUARD)
    sim = SimulatedCameras(tmp_path, cameras=2).start()
    c = build(settings)
    server = ServerProcess(data, **GUARD)
    server.log = tmp_path / "server.log"  # not on the small disk: it fills up too
    filler = small_disk / "filler.bin"
    try:
        admin = c.accounts.add_user("admin", ADMIN_PW, "admin")
        c.accounts.add_user("superviseur", ADMIN_PW, "supervisor")
        c.grants.add("superviseur", "playback", actor="test")
        cams = [c.registry.add(CameraSpec(name=f"CAM-{i + 1}", main_url=sim.url(i))).id
                for i in range(2)]
        boss = c.accounts.principal_of("superviseur")
        case = c.cases.create(boss, reference="PV 2026/00777", service="Commissariat",
                              officer="OPJ Martin", requisition_date="2026-12-01",
                              legal_basis="art. 60-1 CPP (flagrance)")
        server.start()
        assert (data / RESERVE_NAME).stat().st_size == 2 * MIB
        wait_until(lambda: all(sum(1 for s in segments(c).values() if s[0] == cam) >= 3
                               for cam in cams), 60, "three segments per camera")
        first = sorted((s for s in segments(c).values() if s[0] == cams[0]),
                       key=lambda s: s[1])[:2]
        c.cases.place_holds(boss, case.id, [cams[0]], first[0][1], first[1][2])
        held = {i for i, s in segments(c).items() if s[0] == cams[0] and s[1] < first[1][2]}
        before = segments(c)

        # -- nearly full: the oldest unprotected footage goes first, recording goes on --------
        fill(filler, leave_bytes=12 * MIB)
        purges = wait_until(lambda: (found := events(c, "early_purge")) and len(found) >= 3
                            and found, 60, "three early purges")
        at_first_purge = purges[0].at_utc_us
        wait_until(lambda: sum(1 for s in segments(c).values() if s[1] > at_first_purge) >= 6,
                   60, "new segments after the early purges")
        now = segments(c)
        assert held <= now.keys()  # the held footage is kept
        gone = before.keys() - now.keys()
        assert gone and {before[i][0] for i in gone} == set(cams)  # across cameras
        kept_unheld = [s for i, s in now.items() if i in before and i not in held]
        assert all(before[i][2] <= s[2] for i in gone for s in kept_unheld)  # oldest first
        entries = list(c.register.entries(kinds=["early_purge"]))
        assert entries[0]["label"] == "Destruction anticipée (disque plein)"
        assert "reason=purge anticipée : disque plein" in entries[0]["details"]
        detail = purges[0].detail
        assert '"free_bytes_before"' in detail and '"free_bytes_after"' in detail
        assert sum(int(e["segments"]) for e in entries) >= len(gone)
        health = httpx.get(server.base_url + "/healthz", timeout=5)
        assert health.status_code == 503 and health.json()["status"] == "degraded"
        assert health.json()["storage"]["state"] == "early_purge"
        answered = login(server, "admin", ADMIN_PW)
        assert answered.status_code == 303, answered.text

        # -- everything left under a hold: explicit stop, the database keeps working ---------
        c.cases.place_holds(boss, case.id, cams, first[0][1], c.clock.now_us() + 86400 * 10**6)
        fill(filler, leave_bytes=1 * MIB)

        def full() -> dict[str, Any] | None:
            body = httpx.get(server.base_url + "/healthz", timeout=5).json()
            return body if body["storage"]["state"] == "full" else None

        body = wait_until(full, 30, "the full state")
        assert body["storage"]["message"].startswith(
            "Stockage plein : enregistrement interrompu, toutes les images restantes sont "
            "sous scellé/export")
        assert not (data / RESERVE_NAME).exists()  # released for the database
        wait_until(lambda: stream_states(c) == {"storage_full"}, 30,
                   "recorders to report storage_full")
        frozen = len(segments(c))
        for _ in range(3):  # logins and the audit trail work; nothing answers 500
            assert login(server, "admin", ADMIN_PW).status_code == 303
        token = c.accounts.open_session(admin, "127.0.0.1")
        page = httpx.get(server.base_url + "/cameras", cookies={"guetteur_session": token},
                         timeout=10)
        assert page.status_code == 200 and "data-storage-alert" in page.text
        assert "Stockage plein : enregistrement interrompu" in page.text
        api = httpx.get(server.base_url + "/api/cameras", cookies={"guetteur_session": token},
                        timeout=10)
        assert api.status_code == 200
        status = server.cli("status")
        assert status.returncode == 0 and "stockage node-1 : full" in status.stdout, status
        assert len(events(c, "storage_full")) == 1
        assert len(segments(c)) <= frozen + 2  # at most the segments being closed

        # -- space comes back: recording resumes by itself -----------------------------------
        filler.unlink()
        wait_until(lambda: len(segments(c)) >= frozen + 4, 60, "recording to resume")
        wait_until(lambda: (data / RESERVE_NAME).exists(), 10, "the reserve re-created")
        assert len(events(c, "storage_resumed")) == 1
    finally:
        server.stop()
        sim.stop()
        c.close()


# -- the guard's service on its own: fake clock, fake footage files, both databases ------------

def put_footage(c: Container, camera_id: int, start_us: int, seq: int) -> int:
    import hashlib

    from guetteur.services.segment_index import SegmentRow

    content = os.urandom(MIB)
    path = c.store.stream_dir(camera_id, "main") / f"20261201T000000000000Z_{seq:06d}.mp4"
    path.write_bytes(content)
    c.index.insert([SegmentRow(camera_id, "main", c.store.key_of(path), start_us,
                               start_us + 60 * 10**6, MIB, hashlib.sha256(content).hexdigest(),
                               "avc1.640028", 800)], [])
    with c.sessions() as db:
        return int(db.scalar(select(Segment.id).where(
            Segment.storage_key == c.store.key_of(path))) or 0)


def test_the_early_purge_spares_holds_and_unfinished_exports_and_stops_at_the_floor(
        any_db_url: str, make_container: Any, small_disk: Path) -> None:
    import json

    from guetteur.adapters.db.models import ExportJob
    from guetteur.domain.clock import FakeClock
    from guetteur.domain.storage import ALERT_HOLD_S
    from guetteur.services.space_guard import read_storage

    s = 10**6
    t0 = 1_796_083_200 * s  # 2026-12-01 00:00 UTC
    clock = FakeClock(t0 + 7200 * s)
    c = make_container(any_db_url, clock=clock, data_dir=small_disk / "var",
                       disk_min_free_pct=0, disk_min_free_bytes=6 * MIB,
                       disk_min_free_minutes=0, disk_reserve_bytes=1 * MIB)
    c.accounts.add_user("superviseur", ADMIN_PW, "supervisor")
    c.grants.add("superviseur", "playback", actor="test")
    boss = c.accounts.principal_of("superviseur")
    cams = [c.registry.add(CameraSpec(name=f"CAM-{i + 1}", main_url=f"rtsp://192.0.2.{i + 1}/s"))
            .id for i in range(2)]
    # camera 1 at 0, 120, 240 ... s; camera 2 at 60, 180, 300 ... s
    ids = {(cam, k): put_footage(c, cam, t0 + (120 * k + 60 * j) * s, k)
           for k in range(6) for j, cam in enumerate(cams)}
    case = c.cases.create(boss, reference="PV 2026/00778", service="Commissariat",
                          officer="OPJ Martin", requisition_date="2026-12-01",
                          legal_basis="art. 60-1 CPP (flagrance)")
    c.cases.place_holds(boss, case.id, [cams[0]], t0, t0 + 60 * s)  # camera 1's first
    with c.sessions.begin() as db:  # an export still queued reads camera 2's first
        db.add(ExportJob(case_id=case.id, camera_ids=json.dumps([cams[1]]),
                         start_utc_us=t0 + 60 * s, end_utc_us=t0 + 120 * s,
                         requested_by="superviseur", requested_utc_us=clock.now_us(),
                         state="queued"))
    assert c.space.check_once().state == "ok"
    assert (small_disk / "var" / RESERVE_NAME).stat().st_size == MIB
    filler = small_disk / "filler.bin"

    fill(filler, leave_bytes=4 * MIB)  # watermark 6 MiB: free up to 7.2 MiB, 4 segments
    report = c.space.check_once()
    assert report.state == "early_purge" and report.degraded and report.freed_segments == 4
    left = set(segments(c))
    assert left == set(ids.values()) - {ids[(cams[0], 1)], ids[(cams[1], 1)],
                                        ids[(cams[0], 2)], ids[(cams[1], 2)]}
    assert not c.store.path_of(f"cam{cams[0]:06d}/main/20261201T000000000000Z_000001.mp4") \
        .exists()
    purges = events(c, "early_purge")
    assert [(e.camera_id, json.loads(e.detail)["segments"]) for e in purges] == \
        [(cams[0], 2), (cams[1], 2)]
    detail = json.loads(purges[0].detail)
    assert detail["reason"] == "purge anticipée : disque plein"
    assert detail["free_bytes_after"] - detail["free_bytes_before"] >= 4 * MIB
    assert purges[0].range_from_utc_us == t0 + 120 * s

    # everything left protected, under the floor: recording stops, the reserve is released
    c.cases.place_holds(boss, case.id, cams, t0, t0 + 86400 * s)
    fill(filler, leave_bytes=2 * MIB)
    report = c.space.check_once()
    assert report.state == "full" and report.freed_segments == 0
    assert report.message.startswith("Stockage plein : enregistrement interrompu")
    assert not (small_disk / "var" / RESERVE_NAME).exists()
    c.space.apply(report)
    assert not c.space.writable()
    assert c.space.check_once().state == "full"  # hysteresis: 3 MiB free is not enough
    assert [r["state"] for r in read_storage(c.sessions, clock.now_us())] == ["full"]
    assert len(events(c, "storage_full")) == 1

    filler.unlink()  # space comes back
    report = c.space.check_once()
    c.space.apply(report)
    assert report.state == "early_purge" and c.space.writable()
    assert (small_disk / "var" / RESERVE_NAME).exists()
    assert len(events(c, "storage_resumed")) == 1
    clock.advance(ALERT_HOLD_S)
    assert c.space.check_once().state == "ok"
    assert set(segments(c)) == left  # nothing else was deleted


def test_a_database_out_of_space_answers_507_in_french_not_500(
        make_container: Any, small_disk: Path) -> None:
    """The last line of defence, when no guard ran (the disk filled by something else): the
    audit insert of a login fails with SQLite's "database or disk is full"."""
    from fastapi.testclient import TestClient

    from guetteur.web.app import create_app

    c = make_container(f"sqlite:///{small_disk / 'guetteur.db'}", data_dir=small_disk / "var")
    c.accounts.add_user("admin", ADMIN_PW, "admin")
    with TestClient(create_app(c, run_background=False)) as client:
        with (small_disk / "filler.bin").open("wb", buffering=0) as fh, \
                contextlib.suppress(OSError):
            while True:  # until ENOSPC
                fh.write(b"\0" * 65536)
        answered = client.post("/login", data={"username": "admin", "password": "faux"})
        assert answered.status_code == 507, answered.text
        assert answered.json()["error"] == "InsufficientStorage"
        assert answered.json()["message"].startswith("Stockage plein")
