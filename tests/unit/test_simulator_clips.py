"""Unit tests of the simulator's pure helpers: frame index, Annex-B splitting, clip specs,
camera naming and the status file. No ffmpeg, no GStreamer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from guetteur.adapters.simulator import annexb, clips, frameindex, runner
from guetteur.adapters.simulator.server import CameraMount

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GREY = (128, 128, 128)


def render_index(frame_no: int, width_px: int = 240, height_px: int = 12) -> list[list[tuple]]:
    """A picture drawn the way the clips are: grey background, index row at the top left."""
    side = frameindex.square_px(width_px)
    rows = [[GREY] * width_px for _ in range(height_px)]
    for k, white in enumerate(frameindex.expected_squares(frame_no)):
        for y in range(side):
            for x in range(k * side, (k + 1) * side):
                rows[y][x] = WHITE if white else BLACK
    return rows


@pytest.mark.parametrize("frame_no", [0, 1, 2, 37, 249, 1000, 4095])
def test_decode_reads_back_the_drawn_index(frame_no: int) -> None:
    assert frameindex.decode_frame_index_rows(render_index(frame_no)) == frame_no


def test_decode_survives_scaling_by_an_integer_factor() -> None:
    small = render_index(1234, width_px=240)
    doubled = [[px for px in row for _ in range(2)] for row in small for _ in range(2)]
    assert frameindex.decode_frame_index_rows(doubled) == 1234


def test_decode_returns_none_without_the_marker() -> None:
    assert frameindex.decode_frame_index_rows([[GREY] * 240 for _ in range(12)]) is None
    rows = render_index(5)
    side = frameindex.square_px(240)
    for y in range(side):
        for x in range(side, 2 * side):  # the marker's black square turned white
            rows[y][x] = WHITE
    assert frameindex.decode_frame_index_rows(rows) is None


def test_decode_returns_none_on_a_picture_too_small() -> None:
    assert frameindex.decode_frame_index_rows([[WHITE] * 100]) is None
    assert frameindex.decode_frame_index_rows([]) is None


def test_decode_from_packed_rgba_with_padding() -> None:
    rows = render_index(77)
    width = len(rows[0])
    stride = width * 4 + 16
    data = bytearray()
    for row in rows:
        for r, g, b in row:
            data += bytes((r, g, b, 255))
        data += bytes(16)
    got = frameindex.decode_frame_index_bytes(data, width, len(rows), 4, stride_bytes=stride)
    assert got == 77


def test_expected_squares_is_marker_then_lsb_first() -> None:
    assert frameindex.expected_squares(6) == [True, False, True, False, True, True] + [False] * 9
    with pytest.raises(ValueError):
        frameindex.expected_squares(frameindex.MAX_FRAMES)


def test_drawbox_filters_for_main_and_sub() -> None:
    main = frameindex.drawbox_filters(1920)
    assert frameindex.square_px(1920) == 24 and frameindex.square_px(640) == 8
    assert len(main) == 1 + 2 + frameindex.BITS
    assert main[0] == "drawbox=x=0:y=0:w=360:h=24:color=black:t=fill"
    assert main[-1].endswith(":enable='mod(floor(n/2048),2)'")
    assert "x=112:y=0:w=8:h=8" in frameindex.drawbox_filters(640)[-1]


def annexb_unit(*nal_types: int, long_start: bool = True) -> bytes:
    start = b"\x00\x00\x00\x01" if long_start else b"\x00\x00\x01"
    return b"".join(start + bytes((0x60 | t,)) + b"\xab\xcd" for t in nal_types)


def test_split_access_units_cuts_before_each_aud() -> None:
    first = annexb_unit(annexb.NAL_AUD, annexb.NAL_SPS, annexb.NAL_PPS, annexb.NAL_IDR)
    second = annexb_unit(annexb.NAL_AUD, 1, long_start=False)
    third = annexb_unit(annexb.NAL_AUD, 1)
    data = first + second + third
    units = annexb.split_access_units(data)
    assert units == [first, second, third]
    assert b"".join(units) == data
    assert [annexb.is_keyframe(u) for u in units] == [True, False, False]
    assert annexb.nal_types(first) == [9, 7, 8, 5]


def test_split_access_units_refuses_a_stream_without_aud() -> None:
    with pytest.raises(ValueError, match="aud=1"):
        annexb.split_access_units(annexb_unit(annexb.NAL_SPS, annexb.NAL_IDR))


@pytest.mark.parametrize("duration_s", [0, -2, 3, 11, 170])
def test_clip_duration_must_be_whole_gops_within_the_index(duration_s: int) -> None:
    with pytest.raises(ValueError):
        clips.validate_duration_s(duration_s)


def test_clip_specs_of_a_camera() -> None:
    main = clips.main_spec("CAM-01")
    sub = clips.sub_spec("CAM-01", duration_s=4, preset="ultrafast")
    assert (main.width_px, main.height_px, main.bitrate_kbps) == (1920, 1080, 4000)
    assert (sub.width_px, sub.height_px, sub.bitrate_kbps) == (640, 360, 400)
    assert main.noise and not sub.noise
    assert main.frames == 250 and sub.frames == 100
    with pytest.raises(ValueError, match="preset"):
        clips.main_spec("CAM-01", preset="placebo-ish")


def test_clip_key_is_stable_and_covers_every_parameter() -> None:
    base = clips.main_spec("CAM-01")
    assert clips.clip_key(base) == clips.clip_key(clips.main_spec("CAM-01"))
    others = [
        clips.main_spec("CAM-02"),
        clips.main_spec("CAM-01", duration_s=4),
        clips.main_spec("CAM-01", preset="ultrafast"),
        clips.sub_spec("CAM-01"),
    ]
    assert len({clips.clip_key(s) for s in [base, *others]}) == 5
    assert clips.clip_filename(base).startswith("clip-1920x1080-")
    assert clips.clip_filename(base).endswith(".h264")


def test_ffmpeg_command_has_the_encoding_contract(tmp_path: Path) -> None:
    spec = clips.main_spec("CAM-01", duration_s=4)
    cmd = clips.ffmpeg_command(spec, tmp_path / "x.tmp", tmp_path / "label.txt")
    joined = " ".join(cmd)
    for fragment in (
        "-frames:v 100",
        "-c:v libx264",
        "-preset veryfast",
        "-profile:v main",
        "-g 50",
        "-keyint_min 50",
        "-sc_threshold 0",
        "-bf 0",
        "-b:v 4000k",
        "-x264-params repeat-headers=1:aud=1",
        "-f h264",
    ):
        assert fragment in joined
    graph = cmd[cmd.index("-i") + 1]
    assert graph.startswith("testsrc2=size=1920x1080:rate=25,noise=alls=12:allf=t,")
    assert "expansion=none" in graph and "%{pts\\:hms}" in graph
    assert str(clips.FONT_PATH) in graph
    sub_graph = clips.filter_graph(clips.sub_spec("CAM-01"), tmp_path / "label.txt")
    assert "noise" not in sub_graph


def test_camera_names_fill_in_defaults() -> None:
    assert runner.camera_names(3) == ["CAM-01", "CAM-02", "CAM-03"]
    assert runner.camera_names(3, ["Mairie"]) == ["Mairie", "CAM-02", "CAM-03"]
    with pytest.raises(ValueError):
        runner.camera_names(1, ["a", "b"])
    with pytest.raises(ValueError):
        runner.camera_names(0)
    with pytest.raises(ValueError):
        runner.camera_names(2, [" "])


def test_url_host_of_bind_addresses() -> None:
    assert runner.url_host("0.0.0.0") == "127.0.0.1"
    assert runner.url_host("10.0.0.5") == "10.0.0.5"
    assert runner.url_host("::") == "[::1]"
    assert runner.url_host("fe80::1") == "[fe80::1]"


def test_status_file_is_written_whole_without_credentials(tmp_path: Path) -> None:
    mounts = [CameraMount("Mairie", 1, tmp_path / "m.h264", tmp_path / "s.h264")]
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    doc = runner.status_document(mounts, "0.0.0.0", 8554, 1234, started, 10)
    path = tmp_path / "run" / "sim.json"
    runner.write_status_file(path, doc)
    assert json.loads(path.read_text()) == {
        "port": 8554,
        "pid": 1234,
        "started_utc": "2026-01-02T03:04:05Z",
        "clip_seconds": 10,
        "fps": 25,
        "cameras": [
            {
                "name": "Mairie",
                "main_url": "rtsp://127.0.0.1:8554/cam1/main",
                "sub_url": "rtsp://127.0.0.1:8554/cam1/sub",
            }
        ],
    }
    assert [p.name for p in path.parent.iterdir()] == ["sim.json"]


def test_importing_the_package_does_not_import_gstreamer() -> None:
    import subprocess
    import sys

    code = (
        "import sys, guetteur.adapters.simulator, guetteur.adapters.simulator.server, "
        "guetteur.adapters.simulator.runner; print('gi' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
