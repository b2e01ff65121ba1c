"""HLS VOD playlists built from the segment index, without touching the files.

Each segment file is one HLS media segment: `EXT-X-MAP` points at its init (byte range
0..init_size) and `EXT-X-BYTERANGE` at its fragments. Every file's media time starts at 0, so
each is preceded by `EXT-X-DISCONTINUITY`; `EXT-X-PROGRAM-DATE-TIME` gives its wall-clock start,
which the player uses to map positions to instants.

A range that reaches the live edge also lists the files not indexed yet (services/
open_segments.py): the segment being written appears up to its last complete fragment, with
its own URI (`OpenSegment.media_uri`). The playlist is a snapshot of that moment: the playback
page asks for a new one when the operator plays or seeks past its end (decision 0008).
"""

from __future__ import annotations

import math

from guetteur.domain.timeutil import iso_utc
from guetteur.services.open_segments import Playable, media_uri


def playlist(segments: list[Playable], query: str = "") -> str:
    """`query` ("?reason=...") is appended to every segment URI: an investigator's case
    reference follows each segment request into the audit trail."""
    target = max([math.ceil(s.duration_s) for s in segments] + [1])
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{target}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD",
             "#EXT-X-INDEPENDENT-SEGMENTS"]
    for seg in segments:
        uri = _with_query(media_uri(seg), query)
        lines += [
            "#EXT-X-DISCONTINUITY",
            f'#EXT-X-MAP:URI="{uri}",BYTERANGE="{seg.init_size_bytes}@0"',
            f"#EXT-X-PROGRAM-DATE-TIME:{iso_utc(seg.start_utc_us)}",
            f"#EXTINF:{seg.duration_s:.3f},",
            f"#EXT-X-BYTERANGE:{seg.size_bytes - seg.init_size_bytes}@{seg.init_size_bytes}",
            uri,
        ]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _with_query(uri: str, query: str) -> str:
    return uri + ("&" + query[1:] if "?" in uri and query else query)
