"""Issue 4 on a real database and real media: retention capped at 30 days everywhere, purge
that respects judicial holds (even over part of a segment), four-eyes release, the register,
and the signed evidence export (real H.264 fMP4 segments, PyAV remux, ffprobe, the verifier).
Time is a FakeClock moved by hand."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from guetteur.adapters.db.models import AuditEvent, Camera, ExportJob
from guetteur.adapters.evidence import verifier_preuve
from guetteur.bootstrap import Container
from guetteur.domain.cameras import CameraSpec
from guetteur.domain.clock import FakeClock
from guetteur.domain.errors import (
    Conflict,
    Forbidden,
    InsufficientStorage,
    InvalidInput,
    NoFootage,
    NotFound,
)
from guetteur.domain.timeutil import US_PER_DAY, iso_utc
from guetteur.services.audit import verify
from guetteur.services.register import to_csv, to_html
from guetteur.services.retention import deleted_digest
from guetteur.services.segment_index import GapRow, SegmentRow
from support import make_fmp4

T0 = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z
S = 1_000_000
PASSWORD = "Tr3s-S3cret!pw"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def c(any_db_url: str, make_container: Any, clock: FakeClock) -> Container:
    return make_container(any_db_url, clock=clock)


def camera(c: Container, name: str, **changes: Any) -> int:
    return c.registry.add(CameraSpec(name=name, main_url="rtsp://192.0.2.10/main", **changes),
                          actor="admin").id


def people(c: Container) -> dict[str, Any]:
    who = {name: c.accounts.add_user(name, PASSWORD, role, full_name=name.title())
           for name, role in (("sup1", "supervisor"), ("sup2", "supervisor"),
                              ("enq", "investigator"), ("enq2", "investigator"),
                              ("op", "operator"), ("admin", "admin"), ("dpo", "auditor"))}
    for name in ("sup1", "sup2", "enq", "enq2"):
        c.grants.add(name, "playback")
        c.grants.add(name, "export")
    c.grants.add("op", "playback")
    return who


def segment(c: Container, cam: int, seq: int, start_us: int, end_us: int,
            content: bytes | None = None, media: Path | None = None) -> SegmentRow:
    path = c.store.stream_dir(cam, "main") / f"20261125T180000000Z_{seq:06d}.mp4"
    if media is not None:
        path.write_bytes(media.read_bytes())
    else:
        path.write_bytes(content or bytes([seq]) * 1000)
    key = c.store.key_of(path)
    size, digest = c.store.finalize(key)
    row = SegmentRow(cam, "main", key, start_us, end_us, size, digest, "avc1.64000d", 0)
    c.index.insert([row], [])
    return row


def case(c: Container, who: Any, ref: str = "PV 2026/01234") -> Any:
    return c.cases.create(who, reference=ref, service="Commissariat central — BSU",
                          officer="Lt Martin", requisition_date="2026-11-25",
                          legal_basis="art. 60-1 CPP (flagrance)", description="Délit de fuite")


def actions(c: Container) -> list[str]:
    with c.sessions() as db:
        return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# -- retention capped at 30 days everywhere ---------------------------------------------------

def test_31_days_refused_by_the_domain_and_the_database(c: Container) -> None:
    with pytest.raises(InvalidInput, match="30 jours"):
        camera(c, "Trop", retention_days=31)
    cid = camera(c, "Bien", retention_days=30)
    with pytest.raises(InvalidInput, match="30 jours"):
        c.registry.update(cid, retention_days=31)
    with pytest.raises(IntegrityError), c.sessions.begin() as db:  # a path around the service
        db.execute(update(Camera).where(Camera.id == cid).values(retention_days=31))
    assert c.registry.get(cid).retention_days == 30


# -- purge and holds ----------------------------------------------------------------------------

def test_purge_keeps_a_segment_a_hold_covers_only_in_part(c: Container, clock: FakeClock) -> None:
    who = people(c)
    cid = camera(c, "Rue Haute", retention_days=1)
    other = camera(c, "Rue Basse", retention_days=1)
    base = T0 - 2 * US_PER_DAY
    segs = [segment(c, cid, i, base + i * 60 * S, base + (i + 1) * 60 * S) for i in range(5)]
    free = segment(c, other, 9, base, base + 60 * S)
    kase = case(c, who["enq"])
    # the hold covers the last 10 s of segment 1 and the first 5 s of segment 2
    [hold] = c.cases.place_holds(who["enq"], kase.id, [cid], base + 110 * S, base + 125 * S)

    reports = {r.camera_id: r for r in c.purger.purge_once()}

    kept = {s.storage_key for s in c.index.covering(cid, "main", 0, T0)}
    assert kept == {segs[1].storage_key, segs[2].storage_key}
    assert reports[cid].segments == 3 and reports[cid].held_segments == 2
    assert reports[cid].digest == deleted_digest(
        [(s.start_utc_us, s.sha256) for s in (segs[0], segs[3], segs[4])])
    assert reports[other].segments == 1 and not c.store.path_of(free.storage_key).exists()

    clock.advance(40 * 86_400)  # held past 30 days: still kept
    assert cid not in {r.camera_id for r in c.purger.purge_once()}
    assert c.store.path_of(segs[1].storage_key).exists()

    # four eyes: who asks cannot approve; an investigator cannot approve at all
    c.cases.ask_release(who["sup1"], hold.id, "Affaire classée")
    with pytest.raises(Forbidden, match="autre personne"):
        c.cases.approve_release(who["sup1"], hold.id)
    with pytest.raises(Forbidden):
        c.cases.approve_release(who["enq"], hold.id)
    assert c.purger.purge_once() == []  # a release asked is not a release
    released = c.cases.approve_release(who["sup2"], hold.id)
    assert (released.state, released.release_requested_by, released.released_by) == (
        "released", "sup1", "sup2")
    with pytest.raises(Conflict):
        c.cases.approve_release(who["admin"], hold.id)
    [report] = c.purger.purge_once()
    assert report.segments == 2 and c.index.covering(cid, "main", 0, T0 + 99 * US_PER_DAY) == []

    kinds = [e["kind"] for e in c.register.entries()]
    assert kinds == ["case_create", "hold_place", "retention_purge", "retention_purge",
                     "hold_release_request", "hold_release_approve", "retention_purge"]
    assert verify(c.settings.db_url, c.sessions, 1, c.audit.key).ok


def test_hold_rules(c: Container) -> None:
    who = people(c)
    cid = camera(c, "Parvis")
    kase = case(c, who["enq"])
    with pytest.raises(NotFound):  # another investigator does not even see the case
        c.cases.place_holds(who["enq2"], kase.id, [cid], T0 - 60 * S, T0)
    with pytest.raises(NotFound):  # an operator sees no case, so places no hold
        c.cases.place_holds(who["op"], kase.id, [cid], T0 - 60 * S, T0)
    with pytest.raises(InvalidInput):
        c.cases.place_holds(who["enq"], kase.id, [cid], T0, T0 - 60 * S)
    with pytest.raises(NotFound):
        c.cases.place_holds(who["enq"], kase.id, [cid, 999], T0 - 60 * S, T0)
    with pytest.raises(Conflict):
        case(c, who["sup1"])  # same reference twice
    with pytest.raises(InvalidInput):
        c.cases.create(who["enq"], reference="x", service="s", officer="o",
                       requisition_date="2026-11-25", legal_basis="b")
    with pytest.raises(Forbidden):
        c.cases.create(who["op"], reference="PV 1", service="s", officer="o",
                       requisition_date="2026-11-25", legal_basis="b")
    [hold] = c.cases.place_holds(who["enq"], kase.id, [cid], T0 - 60 * S, T0)
    with pytest.raises(Conflict, match="gelées"):
        c.cases.close(who["enq"], kase.id)
    timeline = c.cases.timeline_holds(cid, T0 - 3600 * S, T0)
    assert timeline == [{"id": hold.id, "start_utc_us": T0 - 60 * S, "end_utc_us": T0,
                         "case_reference": "PV 2026/01234"}]
    assert [v.reference for v in c.cases.list(who["dpo"])] == ["PV 2026/01234"]
    assert c.cases.list(who["enq2"]) == []


# -- evidence export ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clip4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of H.264 at 25 fps, a keyframe every second, fragmented as the recorder writes."""
    return make_fmp4(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=4)


def recorded(c: Container, clip: Path) -> tuple[int, int]:
    """Segments at [0,4) [4,8) then a gap (camera offline) and [20,24) s after B."""
    cid = camera(c, "Carrefour Nord", site="Centre", latitude=48.85, longitude=2.35)
    base = T0 - 3600 * S
    for i, start in enumerate((0, 4, 20)):
        segment(c, cid, i, base + start * S, base + (start + 4) * S, media=clip)
    c.index.insert([], [GapRow(cid, "main", base + 8 * S, base + 20 * S, "camera_offline")])
    return cid, base


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                          "format=duration:stream=codec_name,nb_read_packets,width,height",
                          "-of", "json", str(path)], capture_output=True, text=True,
                         check=True, timeout=60)
    return json.loads(out.stdout)


def test_export_across_segments_and_a_gap(c: Container, clip4: Path, tmp_path: Path) -> None:
    who = people(c)
    cid, base = recorded(c, clip4)
    kase = case(c, who["enq"])
    job = c.exports.create(who["enq"], kase.reference, [cid], base + 2500 * 1000,
                           base + 21_500 * 1000, client_addr="10.0.0.7")
    assert job.state == "queued" and job.bytes_total > 0
    assert c.exports.claim(job.id) and not c.exports.claim(job.id)
    done = c.exports.run(job.id)
    assert done.state == "done", done.error
    assert done.progress == 1.0

    path, name = c.exports.download(who["enq"], job.id, client_addr="10.0.0.7")
    assert name == path.name and name.startswith("guetteur-PV_2026_01234-")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        zf.extractall(tmp_path / "x")
    mp4 = f"video/{cid:04d}_Carrefour_Nord.mp4"
    assert {mp4, mp4.replace(".mp4", ".frames.csv"), "manifest.json", "manifest.sig",
            "LISEZMOI.txt", "cle-publique.pem", "verifier_preuve.py"} <= names

    # from the keyframe before 2.5 s to 8 s (150 frames), then 20 s to 21.5 s (38 frames)
    probe = ffprobe(tmp_path / "x" / mp4)
    assert probe["streams"][0]["codec_name"] == "h264"
    assert int(probe["streams"][0]["nb_read_packets"]) == 188
    assert float(probe["format"]["duration"]) == pytest.approx(7.52, abs=0.05)
    rows = list(csv.DictReader(io.StringIO(
        (tmp_path / "x" / mp4.replace(".mp4", ".frames.csv")).read_text())))
    assert len(rows) == 188
    assert rows[0]["utc"] == iso_utc(base + 2 * S)[:-1] + "000Z" and rows[0]["keyframe"] == "1"
    assert rows[149]["utc"].startswith(iso_utc(base + 7960 * 1000)[:-1])
    assert rows[150]["utc"] == iso_utc(base + 20 * S)[:-1] + "000Z"
    assert rows[0]["europe_paris"].endswith("+01:00")

    [cam] = manifest["cameras"]
    assert cam["name"] == "Carrefour Nord" and cam["latitude"] == 48.85
    assert cam["frames"] == 188
    assert [(g["from_utc"], g["to_utc"], g["reason"]) for g in cam["gaps"]] == [
        (iso_utc(base + 8 * S), iso_utc(base + 20 * S), "camera_offline")]
    assert cam["actual_range"]["first_frame_utc"] == iso_utc(base + 2 * S)
    assert manifest["case"]["reference"] == "PV 2026/01234"
    assert manifest["exported_by"]["username"] == "enq"
    assert manifest["approved_by"] is None
    assert manifest["signing_key"]["fingerprint"] == c.exports.key.fingerprint()
    sizes = {f["path"]: f["size"] for f in manifest["files"]}
    assert sizes[mp4] == (tmp_path / "x" / mp4).stat().st_size

    report = verifier_preuve.verify(path, expected_fingerprint=c.exports.key.fingerprint())
    assert report.ok, report.lines()
    # offline, with only the verifier shipped in the package (no Guetteur on the path)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-I", str(tmp_path / "x" / "verifier_preuve.py"),
                          str(path), "--cle-attendue", c.exports.key.fingerprint()],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    # one flipped byte in the video: verify names the file
    tampered = tmp_path / "x"
    data = bytearray((tampered / mp4).read_bytes())
    data[len(data) // 2] ^= 0x01
    (tampered / mp4).write_bytes(bytes(data))
    report = verifier_preuve.verify(tampered)
    assert not report.ok and report.altered == [mp4]
    assert any(mp4 in line for line in report.lines())

    kinds = [e["kind"] for e in c.register.entries()]
    assert kinds == ["case_create", "export_create", "export_done", "export_download"]
    assert actions(c).count("export") == 2  # gate decisions: at the request, at the download


def test_export_rights_disk_cancel_and_approval(c: Container, clip4: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    who = people(c)
    cid, base = recorded(c, clip4)
    kase = case(c, who["enq"])
    with pytest.raises(NotFound):  # an operator sees no case: never exports
        c.exports.create(who["op"], kase.id, [cid], base, base + 8 * S)
    with pytest.raises(NotFound):  # another investigator's case
        c.exports.create(who["enq2"], kase.id, [cid], base, base + 8 * S)
    c.grants.revoke(c.grants.list("enq")[1].id)  # the export grant
    c.gate.invalidate()
    with pytest.raises(Forbidden):
        c.exports.create(who["enq"], kase.id, [cid], base, base + 8 * S)
    assert "export_denied" in actions(c)
    c.grants.add("enq", "export")
    c.gate.invalidate()
    with pytest.raises(NoFootage):
        c.exports.create(who["enq"], kase.id, [cid], base - 600 * S, base - 300 * S)
    with pytest.raises(InvalidInput):
        c.exports.create(who["enq"], kase.id, [cid], base, base + 25 * 3600 * S)

    class Tiny:
        free = 1000
    monkeypatch.setattr("guetteur.services.evidence.shutil.disk_usage", lambda _p: Tiny)
    with pytest.raises(InsufficientStorage, match="Espace disque insuffisant"):
        c.exports.create(who["enq"], kase.id, [cid], base, base + 8 * S)
    monkeypatch.undo()
    with c.sessions() as db:
        assert db.scalar(select(ExportJob.id)) is None  # nothing queued on a refusal

    # cancelled before it runs, and while it runs
    job = c.exports.create(who["enq"], kase.id, [cid], base, base + 24 * S)
    assert c.exports.cancel(who["enq"], job.id).state == "cancelled"
    job = c.exports.create(who["enq"], kase.id, [cid], base, base + 24 * S)
    assert c.exports.claim(job.id)
    c.exports.request_cancel(job.id)
    assert c.exports.run(job.id).state == "cancelled"
    assert list(c.exports.dir.glob("*.part")) == []

    # approval required: four eyes
    c.exports.approval_required = True
    job = c.exports.create(who["enq"], kase.id, [cid], base, base + 8 * S)
    assert job.state == "awaiting_approval" and not c.exports.claim(job.id)
    with pytest.raises(Forbidden):
        c.exports.approve(who["enq"], job.id)
    assert c.exports.approve(who["sup1"], job.id).state == "queued"
    assert c.exports.claim(job.id)
    assert c.exports.run(job.id).state == "done"
    path, _ = c.exports.download(who["enq"], job.id)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["approved_by"]["username"] == "sup1"


def test_worker_thread_runs_jobs_and_fails_interrupted_ones(c: Container, clip4: Path) -> None:
    who = people(c)
    cid, base = recorded(c, clip4)
    kase = case(c, who["sup1"])
    stale = c.exports.create(who["sup1"], kase.id, [cid], base, base + 4 * S)
    assert c.exports.claim(stale.id)  # as if a process died while running it
    c.exports.start_worker()
    try:
        assert c.exports.progress(stale.id).state == "failed"
        job = c.exports.create(who["sup1"], kase.id, [cid], base, base + 8 * S)
        assert c.exports.wait(job.id, 60).state == "done"
    finally:
        c.exports.stop_worker()


def test_register_csv_and_printable_html(c: Container, clock: FakeClock) -> None:
    who = people(c)
    cid = camera(c, "Gare", retention_days=1)
    segment(c, cid, 1, T0 - 3 * US_PER_DAY, T0 - 3 * US_PER_DAY + 60 * S)
    case(c, who["sup1"])
    c.purger.purge_once()
    rows = list(csv.DictReader(io.StringIO("".join(to_csv(c.register.entries())))))
    assert [r["kind"] for r in rows] == ["case_create", "retention_purge"]
    assert rows[1]["camera"] == "Gare" and rows[1]["segments"] == "1" and rows[1]["digest"]
    html = to_html(list(c.register.entries()), None, None, "dpo", "2026-11-25T21:30:00+01:00")
    assert "Registre des destructions" in html and "Gare" in html and rows[1]["digest"] in html
    with c.sessions.begin() as db:  # a register row altered in the database is detected
        db.execute(text("UPDATE audit_event SET detail = '{}' WHERE action = 'retention_purge'"))
    assert not verify(c.settings.db_url, c.sessions, 1, c.audit.key).ok


def test_an_unfinished_export_keeps_its_footage_from_the_purge(c: Container, clip4: Path,
                                                              clock: FakeClock) -> None:
    who = people(c)
    cid, base = recorded(c, clip4)
    kase = case(c, who["sup1"])
    job = c.exports.create(who["sup1"], kase.id, [cid], base, base + 6 * S)
    clock.advance(31 * 86_400)
    [report] = c.purger.purge_once()
    assert report.segments == 1 and report.held_segments == 2  # [20,24) s was not asked
    c.exports.cancel(who["sup1"], job.id)
    [report] = c.purger.purge_once()
    assert report.segments == 2
