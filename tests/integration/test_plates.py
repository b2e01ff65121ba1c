"""Issue 5 end to end on recorded footage: generated French plates on moving vehicles,
encoded with libx264, cut into fragmented-MP4 segments as the recorder writes them, read by the
plate job in worker processes, found by search (full, partial, fuzzy); the lawful modes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from guetteur.adapters.plates.samples import Source
from guetteur.adapters.plates.street import VehicleSpec
from guetteur.adapters.plates.synth import render_video
from guetteur.bootstrap import Container
from guetteur.domain.cameras import CameraSpec
from guetteur.domain.clock import FakeClock
from guetteur.domain.errors import Forbidden, NotFound
from guetteur.domain.plates import compact, normalise
from guetteur.services.segment_index import SegmentRow

T0 = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z
S = 1_000_000
PLATES = [("GH-417-KT", "SIV", "siv"), ("813 BFM 69", "FNI", "fni-rear"),
          ("DA-562-ZR", "SIV", "siv")]


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """24 s of 1080p street, three vehicles passing, in two 12-s recorder segments."""
    work = tmp_path_factory.mktemp("plates")
    vehicles = [VehicleSpec(enter_s=1.0 + 8 * i, text=text, fmt=fmt, style=style,
                            motion="approach", char_height_px=28.0, speed_kmh=15.0,
                            colour_seed=i)
                for i, (text, fmt, style) in enumerate(PLATES)]
    render_video(work / "street.mp4", 24, size=(1920, 1080), vehicles=vehicles, seed=5,
                 bitrate_kbps=2000, preset="ultrafast")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i",
                    str(work / "street.mp4"), "-c", "copy", "-f", "segment",
                    "-segment_time", "12", "-segment_format", "mp4",
                    "-segment_format_options",
                    "movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration=200000",
                    "-reset_timestamps", "1", str(work / "seg%03d.mp4")], check=True, timeout=120)
    return sorted(work.glob("seg*.mp4"))


@pytest.fixture(scope="module")
def sub_footage(footage: list[Path]) -> Path:
    """The same 24 s as a camera's sub-stream: 640x360, 500 kbit/s, one 24-s segment (its
    boundaries differ from the main stream's, as they do on a real camera)."""
    work = footage[0].parent
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i",
                    str(work / "street.mp4"), "-vf", "scale=640:360", "-c:v", "libx264",
                    "-preset", "ultrafast", "-b:v", "500k", "-g", "50", "-bf", "0",
                    "-f", "mp4", "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
                    "-frag_duration", "200000", str(work / "sub.mp4")], check=True, timeout=120)
    return work / "sub.mp4"


@pytest.fixture
def c(make_container: Any) -> Container:
    return make_container(clock=FakeClock(T0 + 3600 * S), plates_workers=2)


def record(c: Container, footage: list[Path], name: str = "Avenue Foch",
           sub: Path | None = None) -> int:
    cid = c.registry.add(CameraSpec(name=name, main_url="rtsp://192.0.2.9/a"), actor="a").id
    parts = [("main", src, T0 + 12 * i * S, T0 + 12 * (i + 1) * S)
             for i, src in enumerate(footage)]
    if sub is not None:
        parts.append(("sub", sub, T0, T0 + 24 * S))
    for i, (stream, src, start, end) in enumerate(parts):
        path = c.store.stream_dir(cid, stream) / f"20261125T203000000Z_{i:06d}.mp4"
        path.write_bytes(src.read_bytes())
        key = c.store.key_of(path)
        size, digest = c.store.finalize(key)
        c.index.insert([SegmentRow(cid, stream, key, start, end, size, digest, "avc1.42c01f",
                                   0)], [])
    return cid


def investigator(c: Container) -> Any:
    who = c.accounts.add_user("opj", "Tr3s-S3cret!pw", "investigator")
    c.grants.add("opj", "playback")
    return who


def test_plates_are_read_from_recorded_footage_and_found(c: Container,
                                                         footage: list[Path]) -> None:
    cid = record(c, footage)
    who = investigator(c)
    case = c.cases.create(who, reference="PV 2026/555", service="BSU", officer="Lt C",
                          requisition_date="2026-11-25", legal_basis="art. 60-1 CPP")
    try:
        job = c.plates.analyse(who, case.id, [cid], T0, T0 + 24 * S)
        assert job.state == "queued" and job.segments_total == 2
        assert c.plates.claim(job.id)
        done = c.plates.run(job.id)
    finally:
        c.plates.close()
    assert done.state == "done", done.error
    assert done.segments_done == 2 and done.passages >= 3

    for text, _fmt, _style in PLATES:  # full plate, any separators or case
        [hit] = c.plates.search(who, text.lower().replace("-", " "), case_ref=case.id)
        assert (hit.compact, hit.camera_id) == (compact(text), cid)
        assert T0 <= hit.first_utc_us <= hit.last_utc_us < T0 + 24 * S
        assert hit.crop_key and c.plates.crop_path(hit.crop_key).read_bytes()[:2] == b"\xff\xd8"
    # partial and fuzzy (a look-alike and a real difference)
    assert [h.compact for h in c.plates.search(who, "GH-4*", case_ref=case.id)] == ["GH417KT"]
    assert [h.compact for h in c.plates.search(who, "?A-56?-Z?", case_ref=case.id)] == [
        "DA562ZR"]
    fuzzy = c.plates.search(who, "0A-562-2X", fuzzy=2, case_ref=case.id)
    assert fuzzy and fuzzy[0].compact == "DA562ZR"
    assert c.plates.search(who, "0A-562-2X", fuzzy=0, case_ref=case.id) == []
    actions = [e["action"] for e in c.audit.iter_events()]
    assert "plates_analyse" in actions and actions.count("plates_search") >= 6


def plates_of(reads: list[Any]) -> set[str]:
    return {p.compact for p in map(normalise, (r.text for r in reads)) if p is not None}


def test_the_sub_stream_guides_the_analysis_to_fewer_keyframes_and_the_same_plates(
        footage: list[Path], sub_footage: Path) -> None:
    from guetteur.adapters.plates.analyse import analyse_segment
    from guetteur.adapters.plates.ocr import PlateOCR

    ocr = PlateOCR()
    alone_kf = guided_kf = 0
    alone: set[str] = set()
    guided: set[str] = set()
    alone_reads = []
    for i, path in enumerate(footage):
        start = T0 + 12 * i * S
        a = analyse_segment(path, start, ocr)
        if i == 0:
            alone_reads = a.reads
        g = analyse_segment(path, start, ocr, guide=[(sub_footage, T0)])
        assert a.guide_keyframes_decoded == 0 and g.guide_keyframes_decoded >= 5
        alone_kf += a.keyframes_decoded
        guided_kf += g.keyframes_decoded
        alone |= plates_of(a.reads)
        guided |= plates_of(g.reads)
        assert all(start <= r.at_utc_us < start + 12 * S for r in g.reads)
    assert {compact(t) for t, _f, _s in PLATES} <= guided
    assert alone <= guided
    assert guided_kf < alone_kf  # the keyframes without motion were not decoded
    # a sub-stream that does not cover the segment cannot guide: every keyframe is looked at
    keys = len(Source(footage[0]).keys)
    late = analyse_segment(footage[0], T0, ocr, guide=[(sub_footage, T0 + 3600 * S)])
    assert late.keyframes_decoded >= keys
    # nor can a damaged one (cut in its middle, or not a video at all): nothing is lost
    cut = sub_footage.with_name("sub-cut.mp4")
    cut.write_bytes(sub_footage.read_bytes()[:sub_footage.stat().st_size // 3])
    junk = sub_footage.with_name("sub-junk.mp4")
    junk.write_bytes(b"\x00\x00\x00\x08free" + bytes(5000))
    for bad in (cut, junk, sub_footage.with_name("missing.mp4")):
        r = analyse_segment(footage[0], T0, ocr, guide=[(bad, T0)])
        assert r.keyframes_decoded >= keys, bad
        assert plates_of(r.reads) >= plates_of(alone_reads)


def test_plate_job_uses_the_recorded_sub_stream(c: Container, footage: list[Path],
                                                sub_footage: Path) -> None:
    cid = record(c, footage, sub=sub_footage)
    who = investigator(c)
    case = c.cases.create(who, reference="PV 2026/559", service="BSU", officer="Lt C",
                          requisition_date="2026-11-25", legal_basis="art. 60-1 CPP")
    job = c.plates.analyse(who, case.id, [cid], T0, T0 + 24 * S)
    items = c.plates._work_items(cid, job, gating=True)
    assert [len(guide) for _p, _t, _g, guide, _thorough in items] == [1, 1]
    assert c.plates._work_items(cid, job, gating=False)[0][3] == []
    try:
        assert c.plates.claim(job.id)
        done = c.plates.run(job.id)
    finally:
        c.plates.close()
    assert done.state == "done", done.error
    for text, _fmt, _style in PLATES:
        [hit] = c.plates.search(who, text, case_ref=case.id)
        assert hit.camera_id == cid and T0 <= hit.first_utc_us < T0 + 24 * S


def test_commune_mode_refuses_any_reading_outside_a_case(c: Container,
                                                         footage: list[Path]) -> None:
    cid = record(c, footage)
    who = investigator(c)
    with pytest.raises(Forbidden, match="réquisition judiciaire"):
        c.plates.analyse(who, None, [cid], T0, T0 + 24 * S)
    with pytest.raises(Forbidden, match="réquisition judiciaire"):
        c.plates.search(who, "GH-417-KT")
    with pytest.raises(Forbidden, match="mode « police »"):
        c.plates.designate(cid, True, "admin", c.registry)
    assert c.plates.continuous_once() == []
    other = c.cases.create(who, reference="PV 2026/556", service="BSU", officer="Lt C",
                           requisition_date="2026-11-25", legal_basis="art. 60-1 CPP")
    enq2 = c.accounts.add_user("opj2", "Tr3s-S3cret!pw", "investigator")
    with pytest.raises(NotFound):  # another investigator's case
        c.plates.analyse(enq2, other.id, [cid], T0, T0 + 24 * S)


def test_police_mode_reads_continuously_only_designated_cameras(
        make_container: Any, footage: list[Path]) -> None:
    c = make_container(clock=FakeClock(T0 + 3600 * S), plates_mode="police")
    designated = record(c, footage, "Rocade Nord")
    other = record(c, footage, "Rocade Sud")
    c.plates.designate("Rocade Nord", True, "admin", c.registry)
    [job_id] = c.plates.continuous_once()
    job = c.plates.job(job_id)
    assert job.camera_ids == [designated] and job.case_id is None
    assert (job.start_utc_us, job.end_utc_us) == (T0, T0 + 24 * S)
    assert c.plates.continuous_once() == []  # nothing new yet
    assert other not in job.camera_ids


def test_plates_read_outside_a_case_go_with_the_footage(make_container: Any,
                                                        footage: list[Path]) -> None:
    from guetteur.services.plate_search import ReadRow, passage_from_reads

    clock = FakeClock(T0 + 3600 * S)
    c = make_container(clock=clock, plates_mode="police")
    cid = record(c, footage, "Rocade Ouest")
    who = investigator(c)
    case = c.cases.create(who, reference="PV 2026/557", service="BSU", officer="Lt C",
                          requisition_date="2026-11-25", legal_basis="art. 60-1 CPP")
    c.plates.crops_dir.joinpath("k").mkdir(parents=True)
    c.plates.crops_dir.joinpath("k/1.jpg").write_bytes(b"\xff\xd8crop")
    c.plates.search_index.insert_passages([
        passage_from_reads(cid, [ReadRow(T0 + S, "EF-123-GH", 0.9)], crop_key="k/1.jpg"),
        passage_from_reads(cid, [ReadRow(T0 + S, "JK-456-LM", 0.9)], case_id=case.id)])
    clock.advance(31 * 86_400)
    c.purger.purge_once()
    assert c.plates.search_index.search("EF-123-GH") == []
    [kept] = c.plates.search_index.search("JK-456-LM")  # the case's passage stays
    assert kept.case_id == case.id
    assert not c.plates.crops_dir.joinpath("k/1.jpg").exists()
    assert "retention_purge_plates" in [e["kind"] for e in c.register.entries()]


def test_the_command_line_analyses_a_case_and_searches(make_container: Any,
                                                       footage: list[Path]) -> None:
    import json
    import os
    import sys

    c = make_container()
    cid = record(c, footage, "Quai Sud")
    who = investigator(c)
    c.cases.create(who, reference="PV 2026/558", service="BSU", officer="Lt C",
                   requisition_date="2026-11-25", legal_basis="art. 60-1 CPP")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUETTEUR_")}
    env.update({"GUETTEUR_DATABASE_URL": c.settings.db_url,
                "GUETTEUR_SECRET_KEY": c.settings.secret_key,
                "GUETTEUR_DATA_DIR": str(c.settings.data_dir)})

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "guetteur", *args], env=env, text=True,
                              capture_output=True, timeout=300, cwd=c.settings.data_dir)

    r = cli("plates", "search", "GH-417-KT", "--as", "opj")
    assert r.returncode == 1 and "réquisition judiciaire" in r.stderr
    r = cli("plates", "analyse", "--case", "PV 2026/558", "--as", "opj", "--approfondie",
            "--camera", "Quai Sud",
            "--from", "2026-11-25T21:30:00", "--to", "2026-11-25T21:30:24")
    assert r.returncode == 0, r.stderr
    assert "Analyse des plaques : 100 %" in r.stderr and "passages" in r.stdout
    r = cli("plates", "search", "gh 417 kt", "--as", "opj", "--case", "PV 2026/558", "--json")
    assert r.returncode == 0, r.stderr
    [hit] = json.loads(r.stdout)
    assert (hit["plate"], hit["camera"]) == ("GH-417-KT", "Quai Sud")
    r = cli("plates", "search", "0A-562-2R", "--fuzzy", "2", "--as", "opj",
            "--case", "PV 2026/558")
    assert r.returncode == 0 and "DA-562-ZR" in r.stdout
    assert cid


def test_a_case_search_finds_the_case_passages_among_many_others(c: Container) -> None:
    """The case is a condition of the query, not a filter on its first results: one passage
    of the case, least confident, among 1,200 others of the same plate (police mode reads)."""
    from guetteur.services.plate_search import ReadRow, passage_from_reads

    cid = c.registry.add(CameraSpec(name="Rond-point", main_url="rtsp://192.0.2.9/r"),
                         actor="a").id
    who = investigator(c)
    case = c.cases.create(who, reference="PV 2026/560", service="BSU", officer="Lt C",
                          requisition_date="2026-11-25", legal_basis="art. 60-1 CPP")
    rows = [passage_from_reads(cid, [ReadRow(T0 + i * 10 * S, "EF-123-GH", 0.95)])
            for i in range(1200)]
    rows.append(passage_from_reads(cid, [ReadRow(T0 - 60 * S, "EF-123-GH", 0.6)],
                                   case_id=case.id))
    c.plates.search_index.insert_passages([r for r in rows if r is not None])
    for query, fuzzy in (("EF-123-GH", 0), ("EF-1*", 0), ("EF-123-GX", 1)):
        [hit] = c.plates.search(who, query, fuzzy=fuzzy, case_ref=case.id, limit=5)
        assert (hit.case_id, hit.first_utc_us) == (case.id, T0 - 60 * S)
    assert len(c.plates.search_index.search("EF-123-GH", limit=5000)) == 1201


def test_a_job_over_several_cameras_indexes_each_camera(make_container: Any,
                                                        footage: list[Path]) -> None:
    """One worker, so at most 4 segments are queued ahead of the one awaited: the six
    segments of three cameras go through that window, each camera's passages on its own."""
    c = make_container(clock=FakeClock(T0 + 3600 * S), plates_workers=1)
    cams = [record(c, footage, f"Boulevard {i}") for i in range(3)]
    who = investigator(c)
    case = c.cases.create(who, reference="PV 2026/561", service="BSU", officer="Lt C",
                          requisition_date="2026-11-25", legal_basis="art. 60-1 CPP")
    job = c.plates.analyse(who, case.id, cams, T0, T0 + 24 * S)
    try:
        assert c.plates.claim(job.id)
        done = c.plates.run(job.id)
    finally:
        c.plates.close()
    assert done.state == "done" and done.segments_done == 6, done.error
    for text, _fmt, _style in PLATES:
        hits = c.plates.search(who, text, case_ref=case.id)
        assert sorted(h.camera_id for h in hits) == cams


def test_a_damaged_segment_is_skipped_and_named_the_others_are_read(
        c: Container, footage: list[Path], tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(20_000))
    cid = record(c, [footage[0], junk])
    who = investigator(c)
    case = c.cases.create(who, reference="PV 2026/562", service="BSU", officer="Lt C",
                          requisition_date="2026-11-25", legal_basis="art. 60-1 CPP")
    job = c.plates.analyse(who, case.id, [cid], T0, T0 + 24 * S)
    try:
        assert c.plates.claim(job.id)
        done = c.plates.run(job.id)
    finally:
        c.plates.close()
    assert done.state == "done" and done.segments_done == 2
    assert done.error and "1 segment(s) illisible(s)" in done.error
    assert "20261125T203000000Z_000001.mp4" in done.error  # the damaged one, by name
    [hit] = c.plates.search(who, PLATES[0][0], case_ref=case.id)  # from the good segment
    assert hit.camera_id == cid
    [event] = [e for e in c.audit.iter_events() if e["action"] == "plates_done"]
    assert len(event["detail"]["unreadable"]) == 1


@pytest.fixture(scope="module")
def crossing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """8 s of street (keyframes every 2 s) where one car crosses the whole picture between
    the keyframes at 4 and 6 s: main stream (one segment) and sub-stream."""
    work = tmp_path_factory.mktemp("crossing")
    car = VehicleSpec(enter_s=4.2, text="KL-274-MN", fmt="SIV", style="siv", motion="lateral",
                      char_height_px=32.0, speed_kmh=25.0)
    raw = work / "raw.mp4"
    [truth] = render_video(raw, 8, size=(1920, 1080), vehicles=[car], seed=9,
                           bitrate_kbps=2000, preset="ultrafast")
    assert truth.appear_frame > 4 * 25 and truth.leave_frame < 6 * 25  # between keyframes
    fmp4 = ["-f", "mp4", "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
            "-frag_duration", "200000"]
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(raw),
                    "-c", "copy", *fmp4, str(work / "main.mp4")], check=True, timeout=120)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(raw),
                    "-vf", "scale=640:360", "-c:v", "libx264", "-preset", "ultrafast",
                    "-b:v", "500k", "-g", "50", "-bf", "0", *fmp4, str(work / "sub.mp4")],
                   check=True, timeout=120)
    return work / "main.mp4", work / "sub.mp4", truth


def test_a_thorough_analysis_finds_a_car_that_crosses_between_two_keyframes(
        crossing: tuple[Path, Path, Any]) -> None:
    from guetteur.adapters.plates.analyse import analyse_segment
    from guetteur.adapters.plates.ocr import PlateOCR

    main, sub, _truth = crossing
    ocr = PlateOCR()
    quick = analyse_segment(main, T0, ocr, guide=[(sub, T0)])
    assert "KL274MN" not in plates_of(quick.reads)  # never in view at a keyframe
    thorough = analyse_segment(main, T0, ocr, guide=[(sub, T0)], thorough=True)
    assert plates_of(thorough.reads) == {"KL274MN"}
    assert thorough.guide_frames_decoded == 8 * 25 > quick.guide_frames_decoded == 4
    assert all(T0 + 4 * S < r.at_utc_us < T0 + 6 * S for r in thorough.reads)
    # without a sub-stream, thorough scans every main GOP
    alone = analyse_segment(main, T0, ocr, thorough=True)
    assert plates_of(alone.reads) == {"KL274MN"} and alone.frames_decoded >= 4 * 25


def test_a_thorough_job_is_asked_through_the_api_and_said_on_the_job(
        c: Container, footage: list[Path]) -> None:
    cid = record(c, footage)
    who = investigator(c)
    case = c.cases.create(who, reference="PV 2026/563", service="BSU", officer="Lt C",
                          requisition_date="2026-11-25", legal_basis="art. 60-1 CPP")
    job = c.plates.analyse(who, case.id, [cid], T0, T0 + 24 * S, thorough=True)
    assert job.thorough and job.public(T0)["thorough"] is True
    assert all(item[4] is True for item in c.plates._work_items(cid, job, gating=True))
    [event] = [e for e in c.audit.iter_events() if e["action"] == "plates_analyse"]
    assert event["detail"]["thorough"] is True
