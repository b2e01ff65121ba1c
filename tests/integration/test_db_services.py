"""Services on a real database (SQLite and PostgreSQL) and real files: camera registry,
segment index, retention purge, audit chain, `guetteur check`, accounts, grants and the pixel
gate.

Time is a `FakeClock` moved by hand; nothing sleeps for time to pass.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from guetteur.adapters.db.models import AuditEvent, Segment, User, WebSession
from guetteur.adapters.media.fmp4 import scan_bytes
from guetteur.bootstrap import Container
from guetteur.domain.audit import GENESIS, AuditRecord, verify_chain
from guetteur.domain.cameras import CameraSpec, Credentials
from guetteur.domain.clock import FakeClock
from guetteur.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from guetteur.domain.segments import Gap, Span
from guetteur.domain.timeutil import US_PER_DAY
from guetteur.services.check import check
from guetteur.services.segment_index import GapRow, SegmentRow
from support import make_fmp4

T0 = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z
S = 1_000_000
PASSWORD = "Tr3s-S3cret!pw"
RUN = "20261125T180000000Z"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def c(any_db_url: str, make_container: Any, clock: FakeClock) -> Container:
    return make_container(any_db_url, clock=clock, session_idle_s=60, session_absolute_s=300)


def add_camera(c: Container, name: str = "Place de la Mairie", **changes: Any) -> int:
    values: dict[str, Any] = {"name": name, "main_url": "rtsp://192.0.2.10:554/stream1"}
    values.update(changes)
    return c.registry.add(CameraSpec(**values), actor="admin").id


def audit_rows(c: Container) -> list[AuditEvent]:
    with c.sessions() as db:
        return list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def as_record(e: AuditEvent) -> AuditRecord:
    return AuditRecord(e.id, e.at_utc_us, e.user_id, e.username, e.action, e.camera_id,
                       e.range_from_utc_us, e.range_to_utc_us, e.client_addr, e.detail,
                       e.prev_hash, e.hash, e.reason)


def put_segment(c: Container, cam_id: int, seq: int, start_us: int, end_us: int,
                content: bytes = b"\0" * 1000, stream: str = "main") -> SegmentRow:
    """Write a file, fsync it, then index it (the recorder's order)."""
    path = c.store.stream_dir(cam_id, stream) / f"{RUN}_{seq:06d}.mp4"
    path.write_bytes(content)
    key = c.store.key_of(path)
    size, digest = c.store.finalize(key)
    row = SegmentRow(cam_id, stream, key, start_us, end_us, size, digest, "avc1.64000d", 777)
    c.index.insert([row], [])
    return row


# -- camera registry --------------------------------------------------------------------------

def test_add_list_get_update_remove(c: Container) -> None:
    cid = add_camera(c, site=" Résidence Les Tilleuls ", latitude=48.85, longitude=2.35,
                     purposes=("voirie",), retention_days=14)
    view = c.registry.get(cid)
    assert view.name == "Place de la Mairie"
    assert view.site == "Résidence Les Tilleuls"
    assert (view.latitude, view.longitude, view.retention_days) == (48.85, 2.35, 14)
    assert view.purposes == ["voirie"]
    assert view.config_version == 1
    assert c.registry.get("Place de la Mairie") == view
    assert [v.id for v in c.registry.list()] == [cid]

    other = add_camera(c, "Gare")
    assert [v.name for v in c.registry.list()] == ["Place de la Mairie", "Gare"]

    updated = c.registry.update(cid, actor="admin", name="Mairie", retention_days=7)
    assert (updated.name, updated.retention_days) == ("Mairie", 7)
    assert c.registry.get(cid).name == "Mairie"

    removed = c.registry.remove(other, actor="admin")
    assert removed.name == "Gare"
    with pytest.raises(NotFound):
        c.registry.get(other)
    actions = [e.action for e in audit_rows(c)]
    assert actions == ["camera_add", "camera_add", "camera_update", "camera_remove"]


def test_a_duplicate_name_is_a_conflict_and_changes_nothing(c: Container) -> None:
    first = add_camera(c, "Gare")
    second = add_camera(c, "Parc")
    events = len(audit_rows(c))
    with pytest.raises(Conflict):
        add_camera(c, "Gare", main_url="rtsp://192.0.2.99/other")
    with pytest.raises(Conflict):
        c.registry.update(second, name="Gare")
    assert [(v.id, v.name, v.main_url, v.config_version) for v in c.registry.list()] == [
        (first, "Gare", "rtsp://192.0.2.10:554/stream1", 1),
        (second, "Parc", "rtsp://192.0.2.10:554/stream1", 1)]
    assert len(audit_rows(c)) == events


def test_an_unknown_partner_is_invalid_input(c: Container) -> None:
    with pytest.raises(InvalidInput) as err:
        add_camera(c, owner="Bailleur Inconnu")
    assert err.value.field == "owner"
    assert c.registry.list() == []
    c.registry.add_partner("Habitat 77")
    view = c.registry.get(add_camera(c, owner="Habitat 77"))
    assert view.owner == "Habitat 77"
    assert c.registry.list_partners()[0]["name"] == "Habitat 77"


def test_retention_above_30_days_is_refused_by_the_service_and_the_database(
        c: Container) -> None:
    with pytest.raises(InvalidInput) as err:
        add_camera(c, retention_days=31)
    assert err.value.field == "retention_days"
    cid = add_camera(c)
    with pytest.raises(InvalidInput):
        c.registry.update(cid, retention_days=31)
    # No path bypasses the cap: the database's CHECK refuses a raw UPDATE too.
    for days in (31, 0):
        with pytest.raises(IntegrityError), c.engine.begin() as conn:
            conn.execute(text("UPDATE camera SET retention_days = :d WHERE id = :id"),
                         {"d": days, "id": cid})
    assert c.registry.get(cid).retention_days == 30


def test_credentials_are_encrypted_at_rest_and_never_shown(c: Container) -> None:
    cid = add_camera(c, main_url=f"rtsp://admin:{PASSWORD}@192.0.2.10:554/stream1",
                     sub_url="rtsp://192.0.2.10:554/stream2")
    with c.engine.connect() as conn:
        raw_url, sealed = conn.execute(
            text("SELECT main_url, credentials_enc FROM camera WHERE id = :id"),
            {"id": cid}).one()
    sealed = bytes(sealed)
    assert raw_url == "rtsp://192.0.2.10:554/stream1"
    assert PASSWORD.encode() not in sealed and b"admin" not in sealed
    view = c.registry.get(cid)
    assert view.has_credentials
    assert PASSWORD not in json.dumps(view.public(), default=str)
    assert "credentials" not in view.public()
    # the recorder (only) gets them back, decrypted with the key
    [target] = c.registry.record_targets(c.settings.node_name)
    assert target.credentials == Credentials("admin", PASSWORD)
    # updates are audited before/after: still no password in the trail
    c.registry.update(cid, credentials=Credentials("admin", PASSWORD + "2"))
    for event in audit_rows(c):
        assert PASSWORD not in event.detail


def test_every_update_bumps_config_version_and_a_refused_one_does_not(c: Container) -> None:
    cid = add_camera(c)
    assert c.registry.update(cid, site="Nord").config_version == 2
    assert c.registry.update(cid, enabled=False).config_version == 3
    with pytest.raises(InvalidInput):
        c.registry.update(cid, main_url="http://192.0.2.10/")
    with pytest.raises(InvalidInput):
        c.registry.update(cid, colour="red")
    view = c.registry.get(cid)
    assert (view.config_version, view.enabled, view.main_url) == (
        3, False, "rtsp://192.0.2.10:554/stream1")


def test_a_camera_with_footage_cannot_be_removed(c: Container) -> None:
    cid = add_camera(c)
    put_segment(c, cid, 1, T0 - 10 * S, T0 - 6 * S)
    with pytest.raises(Conflict) as err:
        c.registry.remove(cid)
    assert "1 segment" in err.value.message
    assert c.registry.get(cid).id == cid
    with pytest.raises(NotFound):
        c.registry.remove(cid + 100)


# -- segment index ----------------------------------------------------------------------------

def test_segment_index_queries(c: Container) -> None:
    cid = add_camera(c)
    s1 = put_segment(c, cid, 1, T0, T0 + 4 * S, b"a" * 100)
    s2 = put_segment(c, cid, 2, T0 + 4 * S, T0 + 8 * S, b"b" * 200)
    s3 = put_segment(c, cid, 3, T0 + 12 * S, T0 + 16 * S, b"c" * 300)
    put_segment(c, cid, 1, T0, T0 + 30 * S, b"d" * 50, stream="sub")
    c.index.insert([], [GapRow(cid, "main", T0 + 8 * S, T0 + 12 * S, "camera_offline")])

    keys = [s.storage_key for s in c.index.covering(cid, "main", T0 + 5 * S, T0 + 13 * S)]
    assert keys == [s2.storage_key, s3.storage_key]
    # half-open: a segment ending exactly at `from` is not included
    assert [s.storage_key for s in c.index.covering(cid, "main", T0 + 4 * S, T0 + 5 * S)] == [
        s2.storage_key]
    assert c.index.covering(cid, "main", T0 + 8 * S, T0 + 12 * S) == []

    at = c.index.at(cid, "main", T0 + 6 * S)
    assert at is not None and at.storage_key == s2.storage_key
    nxt = c.index.at(cid, "main", T0 + 9 * S)  # in the gap: the next segment
    assert nxt is not None and nxt.storage_key == s3.storage_key
    assert c.index.at(cid, "main", T0 + 20 * S) is None
    assert c.index.get(nxt.id) == nxt
    assert nxt.duration_s == 4.0
    with pytest.raises(NotFound):
        c.index.get(nxt.id + 1000)

    now = T0 + 20 * S
    spans, gaps = c.index.timeline(cid, "main", T0 - 2 * S, T0 + 30 * S, now)
    assert spans == [Span(T0, T0 + 8 * S), Span(T0 + 12 * S, T0 + 16 * S)]
    assert gaps == [Gap(T0 - 2 * S, T0, "unknown"), Gap(T0 + 8 * S, T0 + 12 * S, "camera_offline"),
                    Gap(T0 + 16 * S, now, "unknown")]
    spans, _ = c.index.timeline(cid, "main", T0 + 2 * S, T0 + 14 * S, now)
    assert spans == [Span(T0 + 2 * S, T0 + 8 * S), Span(T0 + 12 * S, T0 + 14 * S)]

    stats = c.index.stats()
    main = stats[(cid, "main")]
    assert (main.segments, main.size_bytes, main.last_end_utc_us) == (3, 600, T0 + 16 * S)
    assert stats[(cid, "sub")].segments == 1
    assert c.index.last_end(cid, "main") == T0 + 16 * S
    assert c.index.keys(cid, "main") == {s1.storage_key: s1.end_utc_us,
                                         s2.storage_key: s2.end_utc_us,
                                         s3.storage_key: s3.end_utc_us}
    assert [g.reason for g in c.index.gaps(cid)] == ["camera_offline"]


def test_a_storage_key_is_indexed_once(c: Container) -> None:
    cid = add_camera(c)
    row = put_segment(c, cid, 1, T0, T0 + 4 * S)
    new = put_segment(c, cid, 2, T0 + 4 * S, T0 + 8 * S)
    with c.sessions.begin() as db:
        db.execute(Segment.__table__.delete().where(Segment.storage_key == new.storage_key))
    # a batch holding an already indexed row: the others (and the gaps) still go in, once
    gap = GapRow(cid, "main", T0 + 8 * S, T0 + 9 * S, "camera_offline")
    assert c.index.insert([row, new], [gap]) == 1
    assert c.index.keys(cid, "main") == {row.storage_key: row.end_utc_us,
                                         new.storage_key: new.end_utc_us}
    assert len(c.index.gaps(cid)) == 1


# -- retention purge --------------------------------------------------------------------------

def test_purge_deletes_exactly_the_segments_past_retention(c: Container,
                                                          clock: FakeClock) -> None:
    short = add_camera(c, "Courte", retention_days=7)
    long_ = add_camera(c, "Longue", retention_days=30)
    cutoff = T0 - 7 * US_PER_DAY
    old = put_segment(c, short, 1, cutoff - 120 * S, cutoff - 60 * S, b"1" * 100)
    at_cutoff = put_segment(c, short, 2, cutoff - 60 * S, cutoff, b"2" * 200)
    just_after = put_segment(c, short, 3, cutoff - 59 * S, cutoff + 1, b"3" * 300)
    recent = put_segment(c, short, 4, T0 - 3600 * S, T0 - 3540 * S, b"4" * 400)
    other_cam = put_segment(c, long_, 1, cutoff - 120 * S, cutoff - 60 * S, b"5" * 500)
    c.index.insert([], [GapRow(short, "main", cutoff - 600 * S, cutoff - 120 * S,
                               "camera_offline"),
                        GapRow(short, "main", T0 - 3540 * S, T0 - 60 * S, "camera_offline")])

    [report] = c.purger.purge_once()

    assert (report.camera_id, report.segments, report.size_bytes) == (short, 2, 300)
    assert (report.oldest_start_utc_us, report.newest_end_utc_us) == (old.start_utc_us, cutoff)
    for gone in (old, at_cutoff):
        assert not c.store.path_of(gone.storage_key).exists()
    kept = (just_after, recent, other_cam)
    for row in kept:
        assert c.store.path_of(row.storage_key).exists()
    with c.sessions() as db:
        remaining = set(db.scalars(select(Segment.storage_key)))
    assert remaining == {r.storage_key for r in kept}
    assert [g.start_utc_us for g in c.index.gaps(short)] == [T0 - 3540 * S]

    [event] = [e for e in audit_rows(c) if e.action == "retention_purge"]
    assert (event.camera_id, event.range_from_utc_us, event.range_to_utc_us) == (
        short, old.start_utc_us, cutoff)
    detail = json.loads(event.detail)
    assert {k: detail[k] for k in ("camera", "segments", "size_bytes", "held_segments")} == {
        "camera": "Courte", "segments": 2, "size_bytes": 300, "held_segments": 0}

    assert c.purger.purge_once() == []  # nothing more until time passes
    clock.advance(0.000001)
    [report] = c.purger.purge_once()
    assert report.segments == 1
    assert not c.store.path_of(just_after.storage_key).exists()
    assert c.store.path_of(other_cam.storage_key).exists()


def test_purge_survives_a_file_already_gone(c: Container) -> None:
    cid = add_camera(c, retention_days=1)
    row = put_segment(c, cid, 1, T0 - 3 * US_PER_DAY, T0 - 3 * US_PER_DAY + 4 * S)
    c.store.path_of(row.storage_key).unlink()
    [report] = c.purger.purge_once()
    assert report.segments == 1
    assert c.index.keys(cid, "main") == {}


# -- audit log --------------------------------------------------------------------------------

def test_audit_appends_form_a_verifiable_chain(c: Container, clock: FakeClock) -> None:
    ids = [c.audit.append("login", user_id=1, username="alice", client_addr="127.0.0.1")]
    clock.advance(1)
    ids.append(c.audit.append("playback", user_id=1, username="alice", camera_id=3,
                              range_from_utc_us=T0 - 60 * S, range_to_utc_us=T0,
                              detail={"stream": "main", "note": "réquisition n°12"}))
    clock.advance(1)
    ids.append(c.audit.append("export", user_id=1, username="alice", camera_id=3,
                              detail={"kind": "clip"}))
    ids.append(c.audit.append("logout"))
    assert ids == sorted(ids)

    rows = audit_rows(c)
    assert [r.id for r in rows] == ids
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert verify_chain((as_record(r) for r in rows), key=c.audit.key) == (4, None, "ok")

    # someone edits the trail directly in the database: the chain names the event
    with c.sessions.begin() as db:
        db.execute(update(AuditEvent).where(AuditEvent.id == ids[1])
                   .values(range_from_utc_us=T0 - 3600 * S))
    count, bad, why = verify_chain((as_record(r) for r in audit_rows(c)), key=c.audit.key)
    assert (count, bad) == (2, ids[1])
    assert "modified" in why


def test_audit_deletion_is_detected(c: Container) -> None:
    ids = [c.audit.append("login", username=f"u{i}") for i in range(4)]
    with c.sessions.begin() as db:
        db.execute(AuditEvent.__table__.delete().where(AuditEvent.id == ids[1]))
    assert verify_chain((as_record(r) for r in audit_rows(c)), key=c.audit.key)[1] == ids[2]


# -- guetteur check ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fmp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fmp4(tmp_path_factory.mktemp("media") / "sample.mp4", seconds=3).read_bytes()


def age(path: Path, seconds: float = 3600) -> None:
    """Make a file look finished long ago (check treats a fresh newest file as being written)."""
    past = path.stat().st_mtime - seconds
    os.utime(path, (past, past))


def test_check_reports_and_repairs_what_it_safely_can(c: Container, fmp4: bytes) -> None:
    cid = add_camera(c)
    folder = c.store.stream_dir(cid, "main")
    missing = put_segment(c, cid, 1, T0, T0 + 3 * S, fmp4)
    flipped = put_segment(c, cid, 2, T0 + 3 * S, T0 + 6 * S, fmp4)
    resized = put_segment(c, cid, 3, T0 + 6 * S, T0 + 9 * S, fmp4)
    intact = put_segment(c, cid, 4, T0 + 9 * S, T0 + 12 * S, fmp4)
    c.store.path_of(missing.storage_key).unlink()
    flipped_path = c.store.path_of(flipped.storage_key)
    tampered = bytearray(fmp4)
    tampered[len(tampered) // 2] ^= 0xFF
    flipped_path.write_bytes(bytes(tampered))
    with c.store.path_of(resized.storage_key).open("ab") as fh:
        fh.write(b"extra")
    # orphans: a whole file, one cut mid-fragment by a crash, and one with no video at all
    orphan = folder / f"{RUN}_000005.mp4"
    orphan.write_bytes(fmp4)
    cut_orphan = folder / f"{RUN}_000006.mp4"
    cut_orphan.write_bytes(fmp4[: len(fmp4) - 3000])
    junk = c.store.stream_dir(cid, "sub") / f"{RUN}_000001.mp4"
    junk.write_bytes(b"not a video")
    for path in (*folder.glob("*.mp4"), junk):
        age(path)

    report = check(c.sessions, c.store)
    assert report.checked_rows == 4
    assert report.missing_files == [missing.storage_key]
    assert report.hash_mismatch == [flipped.storage_key]
    assert report.size_mismatch == [f"{resized.storage_key} ({len(fmp4) + 5} != {len(fmp4)})"]
    assert sorted(report.orphan_files) == sorted(
        c.store.key_of(p) for p in (orphan, cut_orphan, junk))
    assert not report.clean and report.repairs == []
    assert check(c.sessions, c.store, hashes=False).hash_mismatch == []

    repaired = check(c.sessions, c.store, repair=True)
    done = "\n".join(repaired.repairs)
    assert f"{missing.storage_key}: row deleted (file missing), gap recorded" in done
    assert f"{c.store.key_of(orphan)}: indexed (3.00 s recovered)" in done
    assert f"{c.store.key_of(cut_orphan)}: incomplete last fragment cut" in done
    assert f"{c.store.key_of(junk)}: no init segment, file deleted" in done
    assert flipped.storage_key not in done and resized.storage_key not in done

    # the missing file's row is gone and its hole is a gap with a reason
    keys = c.index.keys(cid, "main")
    assert missing.storage_key not in keys
    [gap] = c.index.gaps(cid)
    assert (gap.start_utc_us, gap.end_utc_us, gap.reason) == (
        missing.start_utc_us, missing.end_utc_us, "storage_error")
    # orphans holding video are indexed (after the previous segment), junk is deleted
    orphan_key, cut_key = c.store.key_of(orphan), c.store.key_of(cut_orphan)
    assert keys[orphan_key] == intact.end_utc_us + 3 * S
    assert cut_key in keys
    assert not junk.exists()
    complete = scan_bytes(fmp4[: len(fmp4) - 3000]).complete_bytes
    assert cut_orphan.stat().st_size == complete
    with c.sessions() as db:
        recovered = {s.storage_key: s for s in db.scalars(
            select(Segment).where(Segment.recovered.is_(True)))}
    assert set(recovered) == {orphan_key, cut_key}
    assert recovered[cut_key].size_bytes == complete
    assert recovered[cut_key].sha256 == c.store.sha256(cut_key)
    # a hash or size mismatch is evidence: never "repaired"
    assert flipped_path.read_bytes() == bytes(tampered)
    with c.sessions() as db:
        kept = db.scalar(select(Segment).where(Segment.storage_key == flipped.storage_key))
    assert kept is not None and kept.sha256 == flipped.sha256

    again = check(c.sessions, c.store)
    assert again.missing_files == [] and again.orphan_files == []
    assert again.hash_mismatch == [flipped.storage_key]
    assert len(again.size_mismatch) == 1
    assert again.checked_rows == 5


def test_check_leaves_a_file_being_written_alone(c: Container, fmp4: bytes) -> None:
    cid = add_camera(c)
    put_segment(c, cid, 1, T0, T0 + 3 * S, fmp4)
    age(c.store.stream_dir(cid, "main") / f"{RUN}_000001.mp4")
    writing = c.store.stream_dir(cid, "main") / f"{RUN}_000002.mp4"
    writing.write_bytes(fmp4[:5000])  # fresh and newest: a recorder is writing it
    report = check(c.sessions, c.store, repair=True)
    assert report.clean
    assert report.being_written == [c.store.key_of(writing)]
    assert writing.stat().st_size == 5000
    # a key named by a running recorder is skipped even when old
    age(writing)
    key = c.store.key_of(writing)
    assert check(c.sessions, c.store, open_keys={key}).being_written == [key]
    assert check(c.sessions, c.store).orphan_files == [key]


# -- accounts ---------------------------------------------------------------------------------

def test_users_authenticate_with_the_right_password_only(c: Container) -> None:
    who = c.accounts.add_user("alice", PASSWORD, "admin", full_name="Alice Martin")
    assert (who.username, who.role) == ("alice", "admin")
    ok = c.accounts.authenticate("alice", PASSWORD)
    assert (ok.status, ok.principal) == ("ok", who)
    assert ok.needs == "enrol"  # an account that may see images enrols a second factor first
    assert c.accounts.authenticate(" alice ", PASSWORD).principal == who
    for name, password in (("alice", PASSWORD + "x"), ("alice", ""), ("bob", PASSWORD)):
        refused = c.accounts.authenticate(name, password)
        assert (refused.status, refused.principal) == ("bad", None), (name, password)
    with c.sessions() as db:
        stored = db.scalar(select(User.password_hash).where(User.username == "alice"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_the_second_factor_stage_depends_on_the_role_and_the_enrolment(c: Container) -> None:
    c.registry.add_partner("Habitat 77")
    for name, role in (("adm", "admin"), ("sup", "supervisor"), ("op", "operator"),
                       ("inv", "investigator"), ("aud", "auditor")):
        c.accounts.add_user(name, PASSWORD, role)
    c.accounts.add_user("bail", PASSWORD, "landlord", partner="Habitat 77")
    needs = {n: c.accounts.authenticate(n, PASSWORD).needs
             for n in ("adm", "sup", "op", "inv", "aud", "bail")}
    assert needs == {"adm": "enrol", "sup": "enrol", "op": "enrol", "inv": "enrol",
                     "aud": "full", "bail": "full"}


def test_add_user_validates_its_input(c: Container) -> None:
    c.accounts.add_user("alice", PASSWORD, "admin")
    with pytest.raises(Conflict):
        c.accounts.add_user("alice", PASSWORD, "auditor")
    with pytest.raises(InvalidInput) as err:
        c.accounts.add_user("carol", "short", "admin")
    assert err.value.field == "password"
    with pytest.raises(InvalidInput) as err:
        c.accounts.add_user("dave", PASSWORD, "superuser")
    assert err.value.field == "role"
    with pytest.raises(InvalidInput) as err:
        c.accounts.add_user("eve; drop", PASSWORD, "admin")
    assert err.value.field == "username"
    # a landlord account belongs to a known partner, and only a landlord account does
    c.registry.add_partner("Habitat 77")
    for role, partner in (("landlord", None), ("landlord", "Inconnu"),
                          ("operator", "Habitat 77")):
        with pytest.raises(InvalidInput) as err:
            c.accounts.add_user("frank", PASSWORD, role, partner=partner)
        assert err.value.field == "partner", (role, partner)
    landlord = c.accounts.add_user("frank", PASSWORD, "landlord", partner="Habitat 77")
    assert landlord.partner_id is not None
    assert c.accounts.get("frank").partner == "Habitat 77"
    assert [u.username for u in c.accounts.list()] == ["alice", "frank"]


def test_a_disabled_user_is_refused_and_loses_its_sessions(c: Container) -> None:
    who = c.accounts.add_user("alice", PASSWORD, "admin")
    token = c.accounts.open_session(who, "127.0.0.1")
    assert c.accounts.session_principal(token) is not None
    with c.sessions.begin() as db:
        db.execute(update(User).where(User.id == who.user_id).values(enabled=False))
    assert c.accounts.authenticate("alice", PASSWORD).status == "disabled"
    assert c.accounts.authenticate("alice", PASSWORD).principal is None
    assert c.accounts.session_principal(token) is None
    # disabled through the service: its sessions are deleted, not just refused
    other = c.accounts.add_user("bob", PASSWORD, "auditor")
    bobs = c.accounts.open_session(other, None)
    before, after = c.accounts.update("bob", enabled=False)
    assert (before.enabled, after.enabled) == (True, False)
    with c.sessions() as db:
        users = set(db.scalars(select(WebSession.user_id)))
    assert other.user_id not in users
    assert c.accounts.session_principal(bobs) is None
    c.accounts.update("bob", enabled=True)
    assert c.accounts.session_principal(bobs) is None  # re-enabling revives no old session
    assert c.accounts.authenticate("bob", PASSWORD).status == "ok"


def test_wrong_passwords_never_lock_the_account_itself(c: Container) -> None:
    """Checking a password locks nothing (throttling is the login throttle's, per name x
    address: see test_login_throttle.py); a reset by an administrator clears its counters."""
    c.accounts.add_user("alice", PASSWORD, "auditor")
    results = [c.accounts.authenticate("alice", "wrong-password!") for _ in range(10)]
    assert {r.status for r in results} == {"bad"}
    assert c.accounts.authenticate("alice", PASSWORD).status == "ok"
    assert c.accounts.authenticate("nobody", PASSWORD).status == "bad"
    for _ in range(5):
        c.login.password("alice", "wrong-password!", "192.0.2.1")
    assert c.login.password("alice", PASSWORD, "192.0.2.1").status == "bad"  # throttled
    assert c.accounts.get("alice").blocked_until_utc_us is not None
    c.accounts.set_password("alice", "An0ther-l0ng-pw", reset_totp=True)
    assert c.accounts.get("alice").blocked_until_utc_us is None
    assert c.login.password("alice", "An0ther-l0ng-pw", "192.0.2.1").status == "ok"


def test_totp_codes_are_checked_once_within_one_step_either_side(c: Container,
                                                                 clock: FakeClock) -> None:
    import pyotp

    who = c.accounts.add_user("alice", PASSWORD, "operator")
    secret, uri = c.accounts.begin_enrolment(who.user_id)
    assert uri.startswith("otpauth://totp/") and "issuer=Guetteur" in uri
    assert c.accounts.begin_enrolment(who.user_id)[0] == secret  # same secret until confirmed
    with c.engine.connect() as conn:
        sealed = bytes(conn.execute(text("SELECT totp_secret_enc FROM user_account")).scalar())
    assert secret.encode() not in sealed
    totp = pyotp.TOTP(secret)
    now_s = clock.now_us() // S
    assert not c.accounts.check_totp(who.user_id, totp.at(now_s))  # not enrolled yet
    assert not c.accounts.check_totp(who.user_id, "12345", enrolling=True)
    assert c.accounts.check_totp(who.user_id, totp.at(now_s), enrolling=True)
    assert c.accounts.get("alice").totp_enrolled
    assert not c.accounts.check_totp(who.user_id, totp.at(now_s))  # replay
    with pytest.raises(Conflict):
        c.accounts.begin_enrolment(who.user_id)
    clock.advance(60)
    now_s = clock.now_us() // S
    assert not c.accounts.check_totp(who.user_id, totp.at(now_s - 60))  # two steps old
    code = totp.at(now_s - 30)  # one step late: accepted (typed with a space), once
    assert c.accounts.check_totp(who.user_id, code[:3] + " " + code[3:])
    assert not c.accounts.check_totp(who.user_id, code)
    window = {totp.at(now_s + d) for d in (-30, 0, 30)}
    wrong = next(f"{i:06d}" for i in range(4) if f"{i:06d}" not in window)
    assert not c.accounts.check_totp(who.user_id, wrong)
    assert c.accounts.check_totp(who.user_id, totp.at(now_s + 30))  # one step early
    assert not c.accounts.check_totp(who.user_id, totp.at(now_s))  # before the step used


def test_a_pending_session_is_not_a_full_one(c: Container) -> None:
    who = c.accounts.add_user("alice", PASSWORD, "operator")
    token = c.accounts.open_session(who, "127.0.0.1", stage="mfa")
    info = c.accounts.session(token)
    assert info is not None and (info.stage, info.principal) == ("mfa", who)
    assert c.accounts.session_principal(token) is None
    pending_csrf = info.csrf_token
    c.accounts.promote_session(token)
    info = c.accounts.session(token)
    assert info is not None and info.stage == "full"
    assert info.csrf_token != pending_csrf and len(info.csrf_token) >= 24
    assert c.accounts.session_principal(token) == who


def test_sessions_expire_after_the_idle_limit(c: Container, clock: FakeClock) -> None:
    who = c.accounts.add_user("alice", PASSWORD, "admin")
    token = c.accounts.open_session(who, "127.0.0.1")
    assert c.accounts.session_principal(token) == who
    assert c.accounts.session_principal("forged-token") is None
    assert c.accounts.session_principal(None) is None
    for _ in range(3):  # activity keeps it alive beyond the idle limit
        clock.advance(59)
        assert c.accounts.session_principal(token) == who
    clock.advance(61)
    assert c.accounts.session_principal(token) is None
    with c.sessions() as db:
        assert db.scalars(select(WebSession.token_sha256)).all() == []  # deleted, not kept


def test_sessions_expire_after_the_absolute_limit_despite_activity(
        c: Container, clock: FakeClock) -> None:
    who = c.accounts.add_user("alice", PASSWORD, "admin")
    token = c.accounts.open_session(who, None)
    for _ in range(6):
        clock.advance(50)
        assert c.accounts.session_principal(token) == who  # 300 s after login: still valid
    clock.advance(1)
    assert c.accounts.session_principal(token) is None


def test_only_the_token_hash_is_stored(c: Container) -> None:
    who = c.accounts.add_user("alice", PASSWORD, "admin")
    token = c.accounts.open_session(who, "127.0.0.1")
    with c.sessions() as db:
        [stored] = db.scalars(select(WebSession.token_sha256)).all()
    assert stored != token and len(stored) == 64


def test_a_password_reset_kills_every_session(c: Container) -> None:
    who = c.accounts.add_user("alice", PASSWORD, "admin")
    c.registry.add_partner("Habitat 77")
    other = c.accounts.add_user("bob", PASSWORD, "landlord", partner="Habitat 77")
    tokens = [c.accounts.open_session(who, "10.0.0.1"), c.accounts.open_session(who, "10.0.0.2")]
    bobs = c.accounts.open_session(other, "10.0.0.3")
    c.accounts.set_password("alice", "An0ther-l0ng-pw")
    assert [c.accounts.session_principal(t) for t in tokens] == [None, None]
    assert c.accounts.session_principal(bobs) == other
    assert c.accounts.authenticate("alice", PASSWORD).status == "bad"
    assert c.accounts.authenticate("alice", "An0ther-l0ng-pw").principal == who
    with pytest.raises(InvalidInput):
        c.accounts.set_password("alice", "short")
    with pytest.raises(NotFound):
        c.accounts.set_password("nobody", "An0ther-l0ng-pw")


def test_a_reset_with_second_factor_makes_the_user_enrol_again(c: Container,
                                                               clock: FakeClock) -> None:
    import pyotp

    who = c.accounts.add_user("alice", PASSWORD, "operator")
    secret, _ = c.accounts.begin_enrolment(who.user_id)
    assert c.accounts.check_totp(who.user_id, pyotp.TOTP(secret).at(clock.now_us() // S),
                                 enrolling=True)
    assert c.accounts.authenticate("alice", PASSWORD).needs == "mfa"
    c.accounts.set_password("alice", "An0ther-l0ng-pw", reset_totp=True)
    assert not c.accounts.get("alice").totp_enrolled
    assert c.accounts.authenticate("alice", "An0ther-l0ng-pw").needs == "enrol"
    assert c.accounts.begin_enrolment(who.user_id)[0] != secret


def test_logout_closes_only_that_session(c: Container) -> None:
    who = c.accounts.add_user("alice", PASSWORD, "admin")
    first, second = c.accounts.open_session(who, None), c.accounts.open_session(who, None)
    c.accounts.close_session(first)
    assert c.accounts.session_principal(first) is None
    assert c.accounts.session_principal(second) == who


# -- grants and the pixel gate ----------------------------------------------------------------

def test_grants_are_checked_against_the_role_and_the_registry(c: Container) -> None:
    cam = add_camera(c, site="Nord")
    c.registry.add_partner("Habitat 77")
    op = c.accounts.add_user("op", PASSWORD, "operator")
    c.accounts.add_user("bail", PASSWORD, "landlord", partner="Habitat 77")
    c.accounts.add_user("aud", PASSWORD, "auditor")
    for user, action in (("op", "export"), ("op", "audit"), ("bail", "live"),
                         ("aud", "playback"), ("op", "health"), ("op", "fly")):
        with pytest.raises(InvalidInput) as err:
            c.grants.add(user, action)
        assert err.value.field == "action", (user, action)
    for kind, value in (("site", "Sud"), ("site", ""), ("owner", "Inconnu"),
                        ("cameras", "99"), ("cameras", "Place de la Mairie,Inconnue"),
                        ("cameras", " , "), ("planet", "x")):
        with pytest.raises(InvalidInput) as err:
            c.grants.add("op", "live", kind, value)
        assert err.value.field in ("scope_kind", "scope_value"), (kind, value)
    with pytest.raises(InvalidInput) as err:
        c.grants.add("op", "live", valid_from_utc_us=T0, valid_until_utc_us=T0)
    assert err.value.field == "valid_until"
    with pytest.raises(NotFound):
        c.grants.add("nobody", "live")
    assert c.grants.list() == []

    by_name = c.grants.add("op", "live", "cameras", f" Place de la Mairie , {cam}",
                           actor="admin")
    assert (by_name.scope_value, by_name.created_by, by_name.created_utc_us) == (
        str(cam), "admin", T0)
    assert c.grants.add("op", "playback", "site", "Nord").scope_value == "Nord"
    assert c.grants.add("op", "ptz", "owner", "city").scope_value == "city"
    assert c.grants.add("op", "live", "all", "ignored").scope_value is None
    assert [g.action for g in c.grants.active_for(op.user_id)] == [
        "live", "playback", "ptz", "live"]

    revoked = c.grants.revoke(by_name.id, actor="admin")
    assert (revoked.revoked_by, revoked.revoked_utc_us) == ("admin", T0)
    assert by_name.id not in [g.id for g in c.grants.active_for(op.user_id)]
    assert by_name.id not in [g.id for g in c.grants.list("op")]
    assert by_name.id in [g.id for g in c.grants.list("op", include_revoked=True)]
    with pytest.raises(NotFound):
        c.grants.revoke(by_name.id + 100)


def test_the_gate_audits_every_decision_and_asks_investigators_for_a_case(
        c: Container, clock: FakeClock) -> None:
    cam = add_camera(c)
    inv = c.accounts.add_user("inv", PASSWORD, "investigator",
                              habilitation_until_utc_us=T0 + 3600 * S)
    c.grants.add("inv", "playback", "cameras", str(cam))
    with pytest.raises(Forbidden) as err:
        c.gate.authorize_media(inv, "playback", cam, client_addr="10.0.0.1")
    assert "réquisition" in err.value.message
    event_id = c.gate.authorize_media(inv, "playback", cam, range_from_utc_us=T0 - 60 * S,
                                      range_to_utc_us=T0, client_addr="10.0.0.1",
                                      reason="  PV 2026/1234  ")
    with pytest.raises(Forbidden):
        c.gate.authorize_media(inv, "export", cam, reason="PV 2026/1234")  # no export grant
    with pytest.raises(ValueError):
        c.gate.authorize_media(inv, "health", cam)
    clock.set(T0 + 3600 * S)  # the habilitation ends: the same grant gives nothing
    with pytest.raises(Forbidden):
        c.gate.authorize_media(inv, "playback", cam, reason="PV 2026/1234")

    events = [e for e in audit_rows(c) if e.user_id == inv.user_id]
    assert [(e.action, e.reason, e.camera_id) for e in events] == [
        ("playback_denied", None, cam), ("playback", "PV 2026/1234", cam),
        ("export_denied", "PV 2026/1234", cam), ("playback_denied", "PV 2026/1234", cam)]
    assert events[1].id == event_id
    assert (events[1].range_from_utc_us, events[1].range_to_utc_us) == (T0 - 60 * S, T0)
    assert events[1].client_addr == "10.0.0.1"
    decisions = [json.loads(e.detail)["decision"] for e in events]
    assert decisions == ["case reference required", "granted",
                         "no valid grant for this camera and action", "habilitation expired"]
    assert verify_chain((as_record(r) for r in audit_rows(c)), key=c.audit.key)[1] is None


def test_visible_cameras_follow_the_scope_of_each_grant(c: Container) -> None:
    c.registry.add_partner("Habitat 77")
    mairie = add_camera(c, "Mairie", site="Centre")
    gare = add_camera(c, "Gare", site="Centre")
    tilleuls = add_camera(c, "Tilleuls", owner="Habitat 77", site="Les Tilleuls")
    parc = add_camera(c, "Parc")
    op = c.accounts.add_user("op", PASSWORD, "operator")
    bail = c.accounts.add_user("bail", PASSWORD, "landlord", partner="Habitat 77")
    adm = c.accounts.add_user("adm", PASSWORD, "admin")
    assert c.gate.visible(op, "live") == set()
    c.grants.add("op", "live", "site", "Centre")
    c.grants.add("op", "playback", "owner", "Habitat 77")
    c.grants.add("op", "ptz", "cameras", f"{parc}")
    assert c.gate.visible(op, "live") == {mairie, gare}
    assert c.gate.visible(op, "playback") == {tilleuls}
    assert c.gate.visible(op, "ptz") == {parc}
    assert c.gate.visible(op, "health") == {mairie, gare, tilleuls}
    assert c.gate.visible(bail, "health") == {tilleuls}
    assert c.gate.visible(bail, "live") == set()
    assert c.gate.visible(adm, "health") == {mairie, gare, tilleuls, parc}
    assert c.gate.visible(adm, "live") == set()  # an administrator sees no image ungranted
    assert c.gate.visible(adm, "configure") == {mairie, gare, tilleuls, parc}
