"""Split a raw H.264 Annex-B stream into access units, without decoding.

Responsibility: turn a simulated clip (written by ``clips.py`` with x264 ``aud=1``) into the
list of access units the RTSP server pushes, one per frame.

Invariants: every access unit returned starts with its access unit delimiter (NAL type 9) and
keeps its start codes, so concatenating the list gives back the input bytes exactly. A stream
without any AUD is refused (``ValueError``) rather than guessed at: clips are always written
with ``aud=1``.
"""

from __future__ import annotations

NAL_AUD = 9
NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8


def _start_codes(data: bytes) -> list[tuple[int, int]]:
    """(start code offset, NAL header offset) for every 3- or 4-byte start code."""
    found: list[tuple[int, int]] = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        start = i - 1 if i > 0 and data[i - 1] == 0 else i
        found.append((start, i + 3))
        i = data.find(b"\x00\x00\x01", i + 3)
    return found


def nal_types(access_unit: bytes) -> list[int]:
    """NAL unit types in an Annex-B buffer, in order."""
    return [access_unit[h] & 0x1F for _, h in _start_codes(access_unit) if h < len(access_unit)]


def is_keyframe(access_unit: bytes) -> bool:
    """True when the access unit holds an IDR slice."""
    return NAL_IDR in nal_types(access_unit)


def split_access_units(data: bytes) -> list[bytes]:
    """Access units of an Annex-B stream, cut before each access unit delimiter."""
    cuts = [s for s, h in _start_codes(data) if h < len(data) and data[h] & 0x1F == NAL_AUD]
    if not cuts:
        raise ValueError("no access unit delimiter found: encode the clip with x264 aud=1")
    if cuts[0] != 0:
        cuts[0] = 0  # bytes before the first AUD belong to the first access unit
    return [data[a:b] for a, b in zip(cuts, [*cuts[1:], len(data)], strict=True)]
