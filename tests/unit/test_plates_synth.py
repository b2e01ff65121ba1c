"""Unit tests of the plate adapters' pure parts: candidate filtering, the synthetic plates and
vehicle plans, and the checks on a video given to the simulator (``--source``). No OCR model,
no ffmpeg."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from guetteur.adapters.plates import ocr as plate_ocr
from guetteur.adapters.plates import platedraw, synth
from guetteur.adapters.simulator import clips

QUAD = ((0.5, 1.0), (10.2, 0.0), (10.0, 5.0), (0.0, 5.9))
AUD = b"\x00\x00\x00\x01\x09\xf0"
SPS_PPS = b"\x00\x00\x00\x01\x67\x4d\x00\x00\x00\x01\x68\xee"
IDR = b"\x00\x00\x00\x01\x65\x88"
P_SLICE = b"\x00\x00\x00\x01\x41\x9a"


def test_plate_candidates_keep_4_to_10_alphanumerics_best_first() -> None:
    boxes = [
        plate_ocr.TextBox(t, s, QUAD)
        for t, s in [
            ("F", 0.99),
            ("AB-123-CD", 0.9),
            ("75", 0.99),
            ("1234 ABC 971", 0.95),
            ("12-3", 0.99),
            ("AB 123 CD 45 678", 0.99),
            ("ab.12", 0.5),
            ("粤B-12345", 0.97),
        ]
    ]
    kept = plate_ocr.plate_candidates(boxes)
    assert [b.text for b in kept] == ["粤B-12345", "1234 ABC 971", "AB-123-CD", "ab.12"]
    assert [b.compact for b in kept] == ["B12345", "1234ABC971", "AB123CD", "AB12"]
    assert plate_ocr.best_candidate(boxes[:1]) is None
    assert plate_ocr.best_candidate(boxes[1:2]) == boxes[1]


def test_text_box_geometry() -> None:
    box = plate_ocr.TextBox("AB-123-CD", 0.9, QUAD)
    assert box.box == (0, 0, 11, 6)
    assert box.height_px == pytest.approx((np.hypot(0.5, 4.9) + np.hypot(0.2, 5.0)) / 2)


def test_random_texts_follow_the_french_formats() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        siv = platedraw.random_text(synth.SIV, rng)
        fni = platedraw.random_text(synth.FNI, rng)
        assert re.fullmatch(r"[A-HJ-NP-TV-Z]{2}-\d{3}-[A-HJ-NP-TV-Z]{2}", siv)
        assert siv[3:6] != "000"
        assert re.fullmatch(r"[1-9]\d{0,3} [A-HJ-NP-TV-Z]{2,3} (\d{2}|2[AB]|97[14])", fni)
        assert 4 <= len(synth.compact(fni)) <= 10
    with pytest.raises(ValueError, match="unknown plate format"):
        platedraw.random_text("EU", rng)


def test_plans_are_deterministic_and_fit_the_video() -> None:
    size = (960, 540)
    a = synth.plan_vehicles(60, 10, seed=4, size=size, char_height_px=(12.0, 16.0))
    b = synth.plan_vehicles(60, 10, seed=4, size=size, char_height_px=(12.0, 16.0))
    c = synth.plan_vehicles(60, 10, seed=5, size=size, char_height_px=(12.0, 16.0))
    assert a == b and len(a) == 6
    assert [v.text for v in a] != [v.text for v in c]
    assert [v.enter_s for v in a] == [1.0, 11.0, 21.0, 31.0, 41.0, 51.0]
    assert {v.motion for v in a} == {"lateral", "approach"}
    assert all(12.0 <= v.char_height_px <= 16.0 for v in a)
    assert len(synth.plan_vehicles(2, 10, seed=4, size=size)) == 0  # no time to pass


def test_plate_crops_are_deterministic_and_sized_by_character_height() -> None:
    one = synth.render_plate_image("AB-123-CD", synth.SIV, 25.0, 2.0, 1.0, 0.6, True, seed=9)
    two = synth.render_plate_image("AB-123-CD", synth.SIV, 25.0, 2.0, 1.0, 0.6, True, seed=9)
    other = synth.render_plate_image("AB-123-CD", synth.SIV, 25.0, 2.0, 1.0, 0.6, True, seed=8)
    assert np.array_equal(one, two) and not np.array_equal(one, other)
    crop = synth.render_plate_image("123 ABC 45", synth.FNI, 30.0, seed=1)
    plate_w = 30.0 / platedraw.CHAR_MM * platedraw.PLATE_MM[0]
    assert crop.shape == (round(plate_w * 1.3), round(plate_w * 2.9), 3)  # ~270 x 600
    with pytest.raises(ValueError, match="not a SIV style"):
        synth.render_plate_image("AB-123-CD", synth.SIV, style="fni-old")


def test_drawn_plate_characters_have_the_asked_height() -> None:
    plate = platedraw.draw_plate("AB-123-CD", "siv", 40.0)
    ink = (plate.mean(axis=2) < 100)[:, plate.shape[1] // 5 : -plate.shape[1] // 5]
    rows = np.nonzero(ink[2:-2].any(axis=1))[0]  # the border is dark too: skip it
    assert rows.max() - rows.min() + 1 == pytest.approx(40, abs=2)


def write(path: Path, *units: bytes) -> Path:
    path.write_bytes(b"".join(units))
    return path


def test_a_source_clip_must_be_loopable(tmp_path: Path) -> None:
    gop = [AUD + SPS_PPS + IDR] + [AUD + P_SLICE] * (clips.GOP_FRAMES - 1)
    assert clips.check_source_clip(write(tmp_path / "ok.h264", *gop, *gop)) == 100
    with pytest.raises(ValueError, match="aud=1"):
        clips.check_source_clip(write(tmp_path / "a.h264", SPS_PPS + IDR))
    with pytest.raises(ValueError, match="whole GOPs"):
        clips.check_source_clip(write(tmp_path / "b.h264", *gop[:10]))
    with pytest.raises(ValueError, match="start with a keyframe"):
        clips.check_source_clip(write(tmp_path / "c.h264", *gop[1:], gop[0]))
    with pytest.raises(ValueError, match="no SPS/PPS"):
        clips.check_source_clip(write(tmp_path / "d.h264", *gop, AUD + IDR, *gop[1:]))
    with pytest.raises(ValueError, match="2 slices"):
        clips.check_source_clip(write(tmp_path / "e.h264", AUD + SPS_PPS + IDR + IDR, *gop[1:]))
