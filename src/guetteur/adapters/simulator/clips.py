"""Pre-encoded looping H.264 clips for the simulated cameras, made once with ffmpeg and cached.

Responsibility: describe a clip (``ClipSpec``), build the ffmpeg command that encodes it with
real libx264, and keep a cache directory of finished clips keyed by a hash of everything that
changes the bytes.

Each camera has a MAIN clip (1920x1080, 25 fps, ~4 Mbit/s, ``testsrc2`` plus temporal noise so
the bitrate stays real) and a SUB clip (640x360, 25 fps, ~400 kbit/s, no noise). Both carry,
burnt in: the camera name, the clip clock (``hh:mm:ss.mmm`` of the clip time), the frame number,
and the machine-readable frame index described in ``frameindex.py``.

Invariants:
- every clip is raw Annex-B H.264, main profile, no B-frames, a keyframe every 50 frames
  (2 s) and nowhere else, SPS/PPS repeated before every keyframe and an access unit delimiter
  before every frame, so it can be cut and looped at any keyframe;
- the duration is a whole number of GOPs (a multiple of 2 s), so frame 0 of each loop is a
  keyframe and looping never breaks decoding;
- a cached file is complete: ffmpeg writes a temporary name in the same directory that is
  renamed only after ffmpeg succeeded, so a killed run leaves at most a stray ``.tmp`` file.

A given file (``--source``, e.g. a synthetic plate video) replaces the main clip of every
camera when it keeps the invariants above (``check_source_clip``); its sub clip is that file
scaled to 640x360, encoded once and cached under a hash of the file's bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from guetteur.adapters.simulator import annexb, frameindex

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
FPS = 25
GOP_FRAMES = 50
GOP_S = GOP_FRAMES // FPS
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
DEFAULT_DURATION_S = 10
DEFAULT_PRESET = "veryfast"
# Bump when the drawing or the encoder options change, so old cached clips are not reused.
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class ClipSpec:
    """Everything that determines the bytes of one clip."""

    label: str  # burnt-in camera name
    width_px: int
    height_px: int
    bitrate_kbps: int
    duration_s: int = DEFAULT_DURATION_S
    preset: str = DEFAULT_PRESET
    noise: bool = False
    fps: int = FPS

    def __post_init__(self) -> None:
        validate_duration_s(self.duration_s)
        if self.preset not in PRESETS:
            raise ValueError(f"preset {self.preset!r} is not one of {', '.join(PRESETS)}")
        if self.fps != FPS:
            raise ValueError(f"clips are {FPS} fps (GOP {GOP_FRAMES} frames = {GOP_S} s)")

    @property
    def frames(self) -> int:
        return self.duration_s * self.fps


@dataclass(frozen=True)
class CameraClips:
    """Paths of the two cached clips of one camera (or of all cameras sharing a clip)."""

    main: Path
    sub: Path


def validate_duration_s(duration_s: int) -> int:
    """Check a clip duration: a positive multiple of the 2 s GOP that fits the frame index."""
    if duration_s <= 0 or duration_s % GOP_S != 0:
        raise ValueError(f"clip duration must be a positive multiple of {GOP_S} s: {duration_s}")
    if duration_s * FPS > frameindex.MAX_FRAMES:
        raise ValueError(
            f"clip duration {duration_s} s exceeds {frameindex.MAX_FRAMES // FPS} s "
            f"(the {frameindex.BITS}-bit frame index would wrap inside the clip)"
        )
    return duration_s


def main_spec(
    label: str, duration_s: int = DEFAULT_DURATION_S, preset: str = DEFAULT_PRESET
) -> ClipSpec:
    """The 1920x1080 ~4 Mbit/s clip of a camera's main stream."""
    return ClipSpec(label, 1920, 1080, 4000, duration_s, preset, noise=True)


def sub_spec(
    label: str, duration_s: int = DEFAULT_DURATION_S, preset: str = DEFAULT_PRESET
) -> ClipSpec:
    """The 640x360 ~400 kbit/s clip of a camera's sub stream."""
    return ClipSpec(label, 640, 360, 400, duration_s, preset, noise=False)


def clip_key(spec: ClipSpec) -> str:
    """Stable hex digest of a spec: the cache key."""
    payload = json.dumps({**asdict(spec), "layout": LAYOUT_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def clip_filename(spec: ClipSpec) -> str:
    return f"clip-{spec.width_px}x{spec.height_px}-{clip_key(spec)}.h264"


def filter_graph(spec: ClipSpec, label_file: Path) -> str:
    """The ``-vf``-style graph that draws the picture; the label is read from ``label_file``
    (no expansion) so camera names never need filtergraph escaping."""
    h = spec.height_px
    big = max(h // 12, 16)
    small = max(h // 18, 12)
    margin = max(h // 40, 4)
    font = f"fontfile={FONT_PATH}"
    text_style = f"fontcolor=white:box=1:boxcolor=black@0.6:boxborderw={max(h // 120, 2)}"
    src = f"testsrc2=size={spec.width_px}x{h}:rate={spec.fps}"
    parts = [src]
    if spec.noise:
        parts.append("noise=alls=12:allf=t")
    parts.append(
        f"drawtext={font}:textfile='{label_file}':expansion=none:fontsize={big}"
        f":{text_style}:x={margin}:y=h-{2 * big + small + 4 * margin}"
    )
    parts.append(
        f"drawtext={font}:text='%{{pts\\:hms}}':fontsize={big}"
        f":{text_style}:x={margin}:y=h-{big + small + 2 * margin}"
    )
    parts.append(
        f"drawtext={font}:text='frame %{{frame_num}}':fontsize={small}"
        f":{text_style}:x={margin}:y=h-{small + margin}"
    )
    parts.extend(frameindex.drawbox_filters(spec.width_px))
    parts.append("format=yuv420p")
    return ",".join(parts)


def ffmpeg_command(
    spec: ClipSpec, out_path: Path, label_file: Path, ffmpeg: str = "ffmpeg"
) -> list[str]:
    """Argument vector that encodes ``spec`` to raw Annex-B H.264 at ``out_path``."""
    rate = f"{spec.bitrate_kbps}k"
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", filter_graph(spec, label_file),
        "-frames:v", str(spec.frames), "-an",
        "-c:v", "libx264", "-preset", spec.preset, "-profile:v", "main", "-pix_fmt", "yuv420p",
        "-g", str(GOP_FRAMES), "-keyint_min", str(GOP_FRAMES), "-sc_threshold", "0", "-bf", "0",
        "-b:v", rate, "-maxrate", rate, "-bufsize", rate,
        "-x264-params", "repeat-headers=1:aud=1",
        "-f", "h264", str(out_path),
    ]  # fmt: skip


def ensure_clip(spec: ClipSpec, cache_dir: Path, ffmpeg: str = "ffmpeg") -> Path:
    """Path of the cached clip for ``spec``, encoding it first if it is not there yet."""
    final = cache_dir / clip_filename(spec)
    if final.is_file() and final.stat().st_size > 0:
        return final
    with tempfile.TemporaryDirectory(prefix="guetteur-clip-") as work:
        label_file = Path(work) / "label.txt"
        label_file.write_text(spec.label, encoding="utf-8")
        return _cached(final, lambda tmp: ffmpeg_command(spec, tmp, label_file, ffmpeg))


def _cached(final: Path, command: Callable[[Path], list[str]]) -> Path:
    """``final`` if it exists, else run ``command(tmp)`` and rename ``tmp`` to ``final``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.is_file() and final.stat().st_size > 0:
        return final
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        done = subprocess.run(command(tmp), capture_output=True, text=True, check=False)
        if done.returncode != 0 or tmp.stat().st_size == 0:
            raise RuntimeError(
                f"ffmpeg could not encode {final.name} (exit {done.returncode}): "
                f"{done.stderr.strip()[-2000:]}"
            )
        tmp.chmod(0o644)  # mkstemp makes it private; clips are not secrets
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def check_source_clip(path: Path) -> int:
    """Number of frames of a given Annex-B H.264 file (``--source``), after checking that it
    can be looped and served like the generated clips: an access unit delimiter before every
    frame, a keyframe with SPS/PPS first, SPS/PPS before every keyframe, keyframes in one
    slice, whole GOPs. ``ValueError`` says what to fix."""
    try:
        units = annexb.split_access_units(path.read_bytes())
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    fix = (
        "re-encode it with libx264 -bf 0 -g 50 -keyint_min 50 -sc_threshold 0 "
        "-x264-params repeat-headers=1:aud=1 -f h264, or write it with "
        "python -m guetteur.adapters.plates.synth"
    )
    for i, unit in enumerate(units):
        types = annexb.nal_types(unit)
        if i == 0 and annexb.NAL_IDR not in types:
            raise ValueError(f"{path} does not start with a keyframe: {fix}")
        if annexb.NAL_IDR in types and not {annexb.NAL_SPS, annexb.NAL_PPS} <= set(types):
            raise ValueError(f"{path}: keyframe {i} has no SPS/PPS before it: {fix}")
        if types.count(annexb.NAL_IDR) > 1:
            # rtph264pay config-interval=-1 puts SPS/PPS before every IDR slice: in the middle
            # of a multi-slice keyframe, which players then decode as broken pictures.
            raise ValueError(
                f"{path}: keyframe {i} has {types.count(annexb.NAL_IDR)} slices; "
                f"one slice per frame is needed (x264 frame threads): {fix}"
            )
    if len(units) % GOP_FRAMES:
        raise ValueError(f"{path} has {len(units)} frames, not whole GOPs of {GOP_FRAMES}: {fix}")
    return len(units)


def sub_of_source_command(
    source: Path, out_path: Path, preset: str = DEFAULT_PRESET, ffmpeg: str = "ffmpeg"
) -> list[str]:
    """Argument vector that scales a ``--source`` clip to the sub stream's 640x360."""
    spec = sub_spec("source", GOP_S, preset)
    rate = f"{spec.bitrate_kbps}k"
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "h264", "-framerate", str(FPS), "-i", str(source), "-an",
        "-vf", f"scale={spec.width_px}:{spec.height_px},format=yuv420p",
        "-c:v", "libx264", "-preset", preset, "-profile:v", "main",
        "-g", str(GOP_FRAMES), "-keyint_min", str(GOP_FRAMES), "-sc_threshold", "0", "-bf", "0",
        "-b:v", rate, "-maxrate", rate, "-bufsize", rate,
        "-x264-params", "repeat-headers=1:aud=1",
        "-f", "h264", str(out_path),
    ]  # fmt: skip


def ensure_source_clips(
    source: Path, cache_dir: Path, preset: str = DEFAULT_PRESET, ffmpeg: str = "ffmpeg"
) -> CameraClips:
    """Main = ``source`` itself (checked); sub = a 640x360 copy, encoded once and cached under
    a hash of the source's bytes."""
    check_source_clip(source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:20]
    key = hashlib.sha256(f"{digest}:{preset}:{LAYOUT_VERSION}".encode()).hexdigest()[:20]
    sub = _cached(
        cache_dir / f"source-sub-640x360-{key}.h264",
        lambda tmp: sub_of_source_command(source, tmp, preset, ffmpeg),
    )
    return CameraClips(main=source, sub=sub)


def ensure_camera_clips(
    label: str,
    cache_dir: Path,
    duration_s: int = DEFAULT_DURATION_S,
    preset: str = DEFAULT_PRESET,
    ffmpeg: str = "ffmpeg",
) -> CameraClips:
    """Main and sub clips burnt with ``label``, from the cache or freshly encoded."""
    main = ensure_clip(main_spec(label, duration_s, preset), cache_dir, ffmpeg)
    sub = ensure_clip(sub_spec(label, duration_s, preset), cache_dir, ffmpeg)
    return CameraClips(main=main, sub=sub)
