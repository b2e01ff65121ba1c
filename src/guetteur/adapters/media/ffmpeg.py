"""ffmpeg command lines and child processes.

The recorder runs one long-lived ffmpeg per stream: RTSP over TCP in, stream copy (no decoding,
no re-encoding), audio dropped, fragmented-MP4 segments cut on keyframes out. Fragments are
flushed every ~200 ms, so a crash loses at most the fragment being written and the live view
can follow the file as it grows. ffmpeg reports each finished segment as one CSV line on its
standard output (`name,start_s,end_s`, media seconds since the first packet).

Children get PR_SET_PDEATHSIG: if the Guetteur process dies, even by SIGKILL, its ffmpeg
processes die with it instead of writing on behind a new recorder's back.
"""

from __future__ import annotations

import ctypes
import signal
from pathlib import Path

FRAGMENT_US = 200_000
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGKILL this child when its parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def segment_command(ffmpeg: str, url: str, pattern: Path, segment_s: int,
                    timeout_s: float) -> list[str]:
    """Record `url` into numbered fragmented-MP4 segments at `pattern` (with %06d)."""
    mov_opts = ("movflags=+frag_keyframe+empty_moov+default_base_moof:"
                f"frag_duration={FRAGMENT_US}:flush_packets=1")
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-rtsp_transport", "tcp", "-timeout", str(int(timeout_s * 1_000_000)),
        "-fflags", "+genpts", "-i", url,
        "-map", "0:v:0", "-c", "copy", "-an", "-dn", "-sn",
        "-f", "segment", "-segment_time", str(segment_s), "-segment_format", "mp4",
        "-segment_format_options", mov_opts, "-reset_timestamps", "1",
        "-segment_list", "pipe:1", "-segment_list_type", "csv",
        str(pattern),
    ]


def baseline_command(ffmpeg: str, url: str, pattern: Path, segment_s: int) -> list[str]:
    """The plain per-camera recorder that benchmarks compare against (FIELD-NOTES.md)."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
        "-i", url, "-map", "0:v", "-c", "copy", "-f", "segment", "-segment_time",
        str(segment_s), "-segment_format", "mp4", "-segment_format_options",
        "movflags=+frag_keyframe+empty_moov+default_base_moof", str(pattern),
    ]


# What ffmpeg prints when the camera, not ffmpeg, is the problem (connection refused or cut,
# I/O timeout, end of stream, RTSP errors). Matched case-insensitively against its stderr.
_CAMERA_ERRORS = ("connection refused", "connection reset", "connection timed out",
                  "timed out", "timeout", "end of file", "network is unreachable",
                  "no route to host", "host is unreachable", "broken pipe", "server returned",
                  "method describe failed", "method setup failed", "method play failed",
                  "unauthorized", "not found", "name or service not known",
                  "invalid data found when processing input", "could not find codec")
_STORAGE_ERRORS = ("no space left", "permission denied", "read-only file system",
                   "disk quota exceeded")


def exit_cause(returncode: int | None, stderr_lines: list[str]) -> str:
    """Why one ffmpeg run ended, as a gap reason: `storage_error` (it could not write),
    `recorder_crashed` (killed by a signal, or a non-zero exit that names no camera or
    network problem) or `camera_offline` (exit 0 — ffmpeg exits 0 when the camera goes
    away — or an error that says the camera stopped answering)."""
    text = " ".join(stderr_lines).lower()
    if any(k in text for k in _STORAGE_ERRORS):
        return "storage_error"
    if returncode is not None and returncode < 0:
        return "recorder_crashed"
    if not returncode or any(k in text for k in _CAMERA_ERRORS):
        return "camera_offline"
    return "recorder_crashed"


def parse_segment_line(line: str) -> tuple[str, float, float] | None:
    """`000003.mp4,180.000000,240.040000` -> (name, start_s, end_s); None if not such a line."""
    parts = line.strip().rsplit(",", 2)
    if len(parts) != 3:
        return None
    try:
        return Path(parts[0]).name, float(parts[1]), float(parts[2])
    except ValueError:
        return None
