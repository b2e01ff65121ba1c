"""Clips: remux the segments covering a time range into one MP4, without re-encoding.

ffmpeg's concat demuxer reads the segment files in order with `inpoint`/`outpoint` (media
seconds inside each file, whose media time starts at 0). Stream copy can only start on a
keyframe: the clip starts at the keyframe at or before the asked start, as an evidence copy
should (nothing is invented, nothing re-encoded). The result is a regular MP4 with `faststart`
so browsers and VLC play it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from guetteur.adapters.media.ffmpeg import die_with_parent
from guetteur.domain.errors import MediaError


@dataclass(frozen=True)
class ClipPart:
    path: Path
    start_utc_us: int
    end_utc_us: int


def concat_list(parts: list[ClipPart], from_us: int, to_us: int) -> str:
    lines = ["ffconcat version 1.0"]
    for part in parts:
        quoted = str(part.path).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
        if from_us > part.start_utc_us:
            lines.append(f"inpoint {(from_us - part.start_utc_us) / 1e6:.6f}")
        if to_us < part.end_utc_us:
            lines.append(f"outpoint {(to_us - part.start_utc_us) / 1e6:.6f}")
    return "\n".join(lines) + "\n"


async def remux_clip(ffmpeg: str, parts: list[ClipPart], from_us: int, to_us: int,
                     out_path: Path) -> None:
    """Write the clip to out_path (a regular, faststart MP4)."""
    if not parts:
        raise MediaError("no segment to remux")
    with tempfile.NamedTemporaryFile("w", suffix=".ffconcat", delete=False) as fh:
        fh.write(concat_list(parts, from_us, to_us))
        list_path = Path(fh.name)
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "concat", "-safe", "0", "-i", str(list_path),
           "-map", "0:v:0", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(out_path)]
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent)
        _, err = await proc.communicate()
    finally:
        with contextlib.suppress(FileNotFoundError):
            list_path.unlink()
    if proc.returncode != 0:
        raise MediaError(f"remux failed: {err.decode(errors='replace').strip()[-500:]}")
