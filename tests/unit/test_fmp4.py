"""Reading real fragmented MP4 written by ffmpeg the way the recorder writes it: init, fragments,
keyframes, duration, and a file cut in the middle of its last fragment."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from guetteur.adapters.media.fmp4 import (
    iter_boxes,
    iter_fragments,
    parse_init,
    scan_bytes,
    scan_file,
)
from support import make_fmp4


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fmp4(tmp_path_factory.mktemp("fmp4") / "out.mp4", seconds=3).read_bytes()


def test_the_file_is_init_then_moof_mdat_pairs(sample: bytes) -> None:
    kinds = [b.kind for b in iter_boxes(sample)]
    assert kinds[:2] == [b"ftyp", b"moov"]
    body = [k for k in kinds[2:] if k != b"mfra"]
    assert body == [b"moof", b"mdat"] * (len(body) // 2)
    assert sum(b.size for b in iter_boxes(sample)) == len(sample)


def test_parse_init_reads_codec_size_and_timescale(sample: bytes) -> None:
    init = parse_init(sample)
    assert init is not None
    assert init.codec.startswith("avc1.")
    assert len(init.codec) == len("avc1.") + 6
    assert (init.width, init.height) == (320, 240)
    assert init.timescale > 0
    boxes = list(iter_boxes(sample))
    assert init.size == boxes[1].end  # ftyp + moov


def test_parse_init_is_none_until_the_moov_is_complete(sample: bytes) -> None:
    init = parse_init(sample)
    assert init is not None
    assert parse_init(sample[: init.size - 1]) is None
    assert parse_init(b"") is None


def test_keyframes_start_a_fragment_every_second(sample: bytes) -> None:
    init = parse_init(sample)
    assert init is not None
    fragments = list(iter_fragments(sample, init.size))
    key_times = [f.base_decode_time / init.timescale for f in fragments if f.keyframe]
    assert key_times == pytest.approx([0.0, 1.0, 2.0])
    assert fragments[0].keyframe
    assert any(not f.keyframe for f in fragments)
    # fragments are ~200 ms, laid end to end
    for before, after in itertools.pairwise(fragments):
        assert after.start == before.end
        assert after.base_decode_time == before.base_decode_time + before.duration_ticks
        assert before.duration_ticks / init.timescale == pytest.approx(0.2, abs=0.05)
    assert sum(f.sample_count for f in fragments) == 75  # 3 s at 25 fps


def test_scan_of_a_whole_file(sample: bytes, tmp_path: Path) -> None:
    scan = scan_bytes(sample)
    assert scan.init is not None
    assert scan.duration_s == pytest.approx(3.0, abs=0.05)
    assert scan.complete_bytes == len(sample)
    assert scan.fragments == len(list(iter_fragments(sample, scan.init.size)))
    path = tmp_path / "copy.mp4"
    path.write_bytes(sample)
    assert scan_file(path) == scan


def test_a_file_cut_in_its_last_mdat_scans_to_its_complete_fragments(sample: bytes) -> None:
    full = scan_bytes(sample)
    assert full.init is not None
    fragments = list(iter_fragments(sample, full.init.size))
    last = fragments[-1]
    mdat = [b for b in iter_boxes(sample) if b.kind == b"mdat"][-1]
    assert mdat.end == last.end
    cut = sample[: mdat.start + mdat.size // 2]

    scan = scan_bytes(cut)
    assert scan.init == full.init
    assert scan.complete_bytes < len(cut)
    assert scan.complete_bytes == fragments[-2].end
    assert scan.fragments == full.fragments - 1
    assert scan.duration_s == pytest.approx(full.duration_s - 0.2, abs=0.05)
    # the kept part ends exactly on a box boundary
    kept = list(iter_boxes(cut[: scan.complete_bytes]))
    assert kept[-1].end == scan.complete_bytes
    assert kept[-1].kind == b"mdat"
    assert scan_bytes(cut[: scan.complete_bytes]).complete_bytes == scan.complete_bytes


def test_a_file_cut_inside_its_init_holds_nothing(sample: bytes) -> None:
    scan = scan_bytes(sample[:100])
    assert (scan.init, scan.complete_bytes, scan.fragments, scan.duration_s) == (None, 0, 0, 0.0)


def test_a_file_cut_in_its_first_fragment_keeps_only_the_init(sample: bytes) -> None:
    init = parse_init(sample)
    assert init is not None
    scan = scan_bytes(sample[: init.size + 50])
    assert scan.complete_bytes == init.size
    assert scan.fragments == 0
    assert scan.duration_s == 0.0


def test_iter_boxes_stops_at_a_box_claiming_more_than_the_data() -> None:
    data = (16).to_bytes(4, "big") + b"free" + b"\0" * 8 + (100).to_bytes(4, "big") + b"mdat"
    assert [(b.kind, b.start, b.size) for b in iter_boxes(data)] == [(b"free", 0, 16)]
    assert list(iter_boxes((0).to_bytes(4, "big") + b"mdat")) == []  # size 0: still writing
