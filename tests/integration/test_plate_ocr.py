"""Integration tests of plate reading (issue 5): the real PP-OCRv6 models of the rapidocr wheel
on synthetic French plates, offline; the deterministic generator; a synthetic plate video
encoded with real libx264 and served by a simulated camera over RTSP."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from guetteur.adapters.plates import ocr as plate_ocr
from guetteur.adapters.plates import platedraw, synth
from guetteur.adapters.plates.street import Street
from guetteur.adapters.simulator import annexb, frameindex
from support import SimulatedCameras

pytestmark = pytest.mark.integration

SMALL = (960, 540)


@pytest.fixture(scope="module")
def reader() -> plate_ocr.PlateOCR:
    return plate_ocr.PlateOCR()


def plate_set(n: int, seed: int) -> list[tuple[str, str, np.ndarray]]:
    """``n`` crops, half SIV half FNI, characters 30 px, moderate blur, a little tilt."""
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        fmt = synth.SIV if i % 2 == 0 else synth.FNI
        text = platedraw.random_text(fmt, rng)
        crop = synth.render_plate_image(
            text,
            fmt,
            30.0,
            angle_deg=float(rng.uniform(-3, 3)),
            blur=1.0,
            contrast=1.0,
            night=False,
            seed=i,
            shear_deg=float(rng.uniform(-6, 6)),
            jpeg_quality=70,
        )
        out.append((text, fmt, crop))
    return out


def best_compact(reader: plate_ocr.PlateOCR, image: np.ndarray, max_side: int = 480) -> str:
    best = plate_ocr.best_candidate(reader.read(image, max_side=max_side))
    return best.compact if best is not None else ""


def test_reads_siv_and_fni_plates_at_30_px_with_moderate_blur(
    reader: plate_ocr.PlateOCR,
) -> None:
    plates = plate_set(10, seed=11)
    got = [(synth.compact(text), best_compact(reader, crop)) for text, _, crop in plates]
    exact = sum(truth == read for truth, read in got)
    assert exact >= 8, got
    for fmt in (synth.SIV, synth.FNI):
        mine = [g for g, (_, f, _) in zip(got, plates, strict=True) if f == fmt]
        assert sum(t == r for t, r in mine) >= 4, (fmt, mine)


def test_boxes_are_in_the_input_pictures_pixels(reader: plate_ocr.PlateOCR) -> None:
    crop = synth.render_plate_image("GH-482-KT", synth.SIV, 30.0, seed=3)
    big = np.zeros((crop.shape[0] + 300, crop.shape[1] + 500, 3), np.uint8)
    big[300:, 500:] = crop
    small = plate_ocr.best_candidate(reader.read(crop))
    moved = plate_ocr.best_candidate(reader.read(big))
    assert small is not None and moved is not None
    (x0, y0, w0, h0), (x1, y1, w1, h1) = small.box, moved.box
    assert abs(x1 - x0 - 500) <= 4 and abs(y1 - y0 - 300) <= 4
    assert abs(w1 - w0) <= 6 and abs(h1 - h0) <= 6
    assert 30 <= small.height_px <= 80


CHILD = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network disabled by the test")
socket.getaddrinfo = socket.create_connection = refuse
socket.socket.connect = socket.socket.connect_ex = refuse
from guetteur.adapters.plates import ocr, synth
reader = ocr.PlateOCR()
crop = synth.render_plate_image("123 ABC 45", synth.FNI, 30.0, seed=2, style="fni-front")
best = ocr.best_candidate(reader.read(crop, max_side=480))
print(json.dumps({"read": best.compact if best else "", "attempts": attempts}))
"""


def without_network_prefix() -> list[str]:
    """``unshare -rn`` (a network namespace with no interface) when this machine allows it:
    that also stops native code, which patching Python's socket module does not."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], check=False).returncode == 0:
        return [unshare, "-rn"]
    return []


def test_loads_and_reads_offline_and_writes_nothing(tmp_path: Path) -> None:
    """In a fresh process with no network and an empty HOME: the models load, a plate is read,
    nothing tried to connect, nothing was written (onnxruntime's telemetry is off)."""
    models_dir = plate_ocr.model_paths().det.parent
    before = sorted(p.name for p in models_dir.parent.rglob("*") if "__pycache__" not in p.parts)
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = subprocess.run(
        [*without_network_prefix(), sys.executable, "-c", CHILD],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"read": "123ABC45", "attempts": []}
    assert list(tmp_path.rglob("*")) == [], "nothing may be written (home, cache, cwd)"
    after = sorted(p.name for p in models_dir.parent.rglob("*") if "__pycache__" not in p.parts)
    assert after == before


def test_video_generator_is_deterministic(tmp_path: Path) -> None:
    """Same seed, same frames (in any order) and ground truth; with one x264 thread, same
    bytes. (Plans and crops: tests/unit/test_plates_synth.py.)"""
    specs = [synth.VehicleSpec(0.2, "EF-456-GH", synth.SIV, "siv", "lateral", 14.0, speed_kmh=30.0)]
    streets = [Street(SMALL, 25, specs, seed=1) for _ in range(2)]
    for n in (40, 3, 10):  # any order
        assert np.array_equal(streets[0].frame(n), streets[1].frame(n))
    assert not np.array_equal(streets[0].frame(3), streets[0].frame(4))  # noise moves
    truths = [
        synth.render_video(
            tmp_path / f"{k}.h264", 2, size=SMALL, vehicles=specs, seed=1, encoder_threads=1
        )
        for k in "ab"
    ]
    assert truths[0] == truths[1] and len(truths[0]) == 1
    assert (tmp_path / "a.h264").read_bytes() == (tmp_path / "b.h264").read_bytes()


@pytest.fixture(scope="module")
def plate_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[synth.GroundTruth]]:
    """4 s of 960x540 street: one vehicle crossing, one coming towards the camera."""
    specs = [
        synth.VehicleSpec(
            0.1, "GH-482-KT", synth.SIV, "siv", "lateral", 26.0, 2.0, 4.0, speed_kmh=20.0
        ),
        synth.VehicleSpec(
            1.5,
            "4721 WX 69",
            synth.FNI,
            "fni-rear",
            "approach",
            28.0,
            -1.5,
            -4.0,
            0.8,
            speed_kmh=20.0,
            lane=0.1,
        ),
    ]
    path = tmp_path_factory.mktemp("plates") / "street.h264"
    return path, synth.render_video(path, 4, size=SMALL, vehicles=specs, seed=3)


def test_plate_video_keeps_the_simulator_invariants(
    plate_video: tuple[Path, list[synth.GroundTruth]],
) -> None:
    import av

    path, truths = plate_video
    units = annexb.split_access_units(path.read_bytes())
    assert len(units) == 100
    keyframes = [i for i, u in enumerate(units) if annexb.is_keyframe(u)]
    assert keyframes == [0, 50]
    for i in keyframes:
        assert {annexb.NAL_SPS, annexb.NAL_PPS} <= set(annexb.nal_types(units[i]))
    from guetteur.adapters.simulator import clips

    assert clips.check_source_clip(path) == 100
    assert [t.text for t in truths] == ["GH-482-KT", "4721 WX 69"]
    lateral, approach = truths
    assert lateral.char_height_px == lateral.char_height_min_px == 26.0
    assert approach.char_height_px == pytest.approx(28.0, abs=0.5)
    assert approach.char_height_min_px < 14.0
    with av.open(str(path), format="h264") as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == SMALL
        indexes = [frameindex.decode_av_frame(f) for f in container.decode(stream)]
    assert indexes == list(range(100))


def test_plates_in_the_encoded_video_are_readable(
    plate_video: tuple[Path, list[synth.GroundTruth]], reader: plate_ocr.PlateOCR
) -> None:
    import av

    path, truths = plate_video
    wanted = {t.last_frame: t for t in truths}  # the approaching plate is largest at its end
    wanted.update({(t.first_frame + t.last_frame) // 2: t for t in truths if t.motion == "lateral"})
    read: dict[str, str] = {}
    with av.open(str(path), format="h264") as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n in wanted:
                image = frame.to_ndarray(format="bgr24")
                read[wanted[n].compact] = best_compact(reader, image, max_side=960)
    assert read == {t.compact: t.compact for t in truths}


def test_a_simulated_camera_serves_the_plate_video(
    plate_video: tuple[Path, list[synth.GroundTruth]], tmp_path: Path
) -> None:
    import av

    path, _ = plate_video
    cameras = SimulatedCameras(tmp_path, cameras=2, source=path)
    try:
        cameras.start()
        assert cameras.info["clip_seconds"] == 4 and cameras.info["source"] == str(path)
        indexes = []
        with av.open(cameras.url(1), options={"rtsp_transport": "tcp"}, timeout=20) as c:
            stream = c.streams.video[0]
            for frame in c.decode(stream):
                if frame.pts is None:  # the first RTSP packet has no pts
                    continue
                assert (frame.width, frame.height) == SMALL
                index = frameindex.decode_av_frame(frame)
                assert index is not None and 0 <= index < 100
                indexes.append(index)
                if len(indexes) == 30:
                    break
        assert all((b - a) % 100 == 1 for a, b in itertools.pairwise(indexes))
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries",
             "stream=width,height", "-of", "json", cameras.url(0, "sub")],
            capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        assert probe.returncode == 0, probe.stderr
        assert json.loads(probe.stdout)["streams"][0] == {"width": 640, "height": 360}
    finally:
        cameras.stop()
