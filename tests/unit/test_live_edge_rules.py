"""Rules behind playback to the live edge and crash labelling, on real bytes: following a file
as it grows (only complete fragments count), the byte window the open-segment route serves,
what a dead ffmpeg's exit says, and that every gap reason has its French label."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from guetteur.adapters.media.ffmpeg import exit_cause
from guetteur.adapters.media.fmp4 import GrowingFile, iter_fragments, parse_init, scan_bytes
from guetteur.domain.segments import GAP_REASONS
from support import make_fmp4

WEB = Path(__file__).resolve().parents[2] / "src" / "guetteur" / "web"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fmp4(tmp_path_factory.mktemp("grow") / "out.mp4", seconds=3).read_bytes()


def test_a_growing_file_counts_complete_fragments_only(sample: bytes, tmp_path: Path) -> None:
    init = parse_init(sample)
    assert init is not None
    frags = list(iter_fragments(sample, init.size))
    path = tmp_path / "open.mp4"
    grow = GrowingFile(path)
    path.write_bytes(sample[:init.size - 10])  # not even a whole init
    assert grow.scan().init is None
    for cut in (init.size, frags[0].end + 7, frags[2].end, frags[2].end + 1,
                frags[-1].end - 1, frags[-1].end):
        path.write_bytes(sample[:cut])  # the file grows (appends only)
        scan = grow.scan()
        whole = scan_bytes(sample[:cut])
        assert scan.complete_bytes == max((f.end for f in frags if f.end <= cut),
                                          default=init.size)
        assert scan.fragments == whole.fragments
        assert scan.duration_s == pytest.approx(whole.duration_s)
        # what it exposes is always a valid prefix, ending at a fragment boundary
        assert scan_bytes(sample[:scan.complete_bytes]).complete_bytes == scan.complete_bytes


@pytest.mark.parametrize(("code", "stderr", "reason"), [
    (-9, [], "recorder_crashed"),  # killed -9
    (-11, ["some decoder message"], "recorder_crashed"),  # segfault
    (1, ["Invalid argument"], "recorder_crashed"),  # ffmpeg's own failure
    (0, [], "camera_offline"),  # FIELD-NOTES: ffmpeg exits 0 when the camera disappears
    (1, ["rtsp://cam/: Connection refused"], "camera_offline"),
    (1, ["rtsp://cam/: Connection timed out"], "camera_offline"),
    (1, ["rtsp://cam/: Server returned 404 Not Found"], "camera_offline"),
    (1, ["Error writing trailer: No space left on device"], "storage_error"),
    (-9, ["av_interleaved_write_frame(): Read-only file system"], "storage_error"),
])
def test_exit_cause(code: int, stderr: list[str], reason: str) -> None:
    assert exit_cause(code, stderr) == reason


def test_every_gap_reason_has_a_french_label_and_a_colour() -> None:
    timeline = (WEB / "static" / "js" / "timeline.js").read_text()
    css = (WEB / "static" / "css" / "app.css").read_text()
    legend = (WEB / "templates" / "playback.html").read_text()
    for reason in GAP_REASONS:
        assert re.search(rf"\b{reason}: '[^']+'|\b{reason}: \"[^\"]+\"", timeline), reason
        if reason != "unknown":
            assert f".tl-gap-{reason} " in css and f"sw-{reason}" in legend, reason
    assert "recorder_crashed: 'enregistreur interrompu'" in timeline
