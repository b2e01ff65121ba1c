"""The bytes of a recorded file that has no row yet: the segment being written (up to its
last complete fragment, never a fragment being written) or one waiting for the writer.
Playlists that reach the live edge point here (services/open_segments.py, decision 0008).

Gated exactly like `/segments/{id}/media` (routes_media.py): the full decision on every
request, covered by the playlist's audit event when the playback token `pt` is valid for this
file, else audited on its own; byte ranges planned by the one parser (`web/byte_ranges.py`)
against the servable size, and sent by `MediaFile`, which never reads the headers itself.
"""

from __future__ import annotations

import asyncio
import re
from email.utils import formatdate
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from guetteur.domain.errors import GuetteurError, InvalidInput, RangeNotSatisfiable
from guetteur.web.byte_ranges import plan
from guetteur.web.media_file import OpenedMedia
from guetteur.web.routes_media import (
    Dep,
    Reason,
    Token,
    Who,
    _stream,
    media_route,
    playback_bytes,
)
from guetteur.web.session import client_addr

router = APIRouter(prefix="/api", tags=["media"])  # GET and HEAD only: no CSRF surface
_FILE_RE = re.compile(r"^\w{1,64}_\d{6}\.mp4$")


@router.get(media_route("/cameras/{camera_id}/recording/{file_name}"))
async def recording_media(camera_id: int, file_name: str, request: Request, c: Dep, who: Who,
                          stream: str = "main", reason: Reason = None,
                          pt: Token = None) -> Any:
    addr = client_addr(request)
    detail: dict[str, object] = {"recording": file_name, "stream": stream,
                                 "method": request.method}
    try:
        if not _FILE_RE.match(file_name):
            raise InvalidInput("Nom de fichier d'enregistrement invalide.", "file_name")
        found = await asyncio.to_thread(c.open_segments.readable, camera_id, _stream(stream),
                                        file_name)
    except GuetteurError as exc:  # decided and audited as unavailable: 403 or its own error
        await asyncio.to_thread(c.gate.authorize_media, who, "playback", camera_id,
                                client_addr=addr, reason=reason, detail=detail,
                                unavailable=exc)
        raise
    # the servable size, not the file's: a fragment being written is never sent
    # (the file only grows: bytes below the servable size never change)
    etag = f'"{found.size_bytes:x}-{found.start_utc_us:x}"'
    mtime = await asyncio.to_thread(_mtime, found.path)
    last_modified = formatdate(mtime, usegmt=True)
    wanted = plan(size_bytes=found.size_bytes, method=request.method,
                  range_header=request.headers.get("range"),
                  if_range=request.headers.get("if-range"), etag=etag,
                  last_modified=last_modified)
    opened = OpenedMedia(found.path, found.size_bytes, etag, last_modified, wanted)
    gone = (RangeNotSatisfiable("Ces octets ne sont pas encore enregistrés : rechargez la "
                                "liste de lecture.", found.size_bytes)
            if wanted.status == 416 else None)
    detail["bytes"] = wanted.describe()
    return await playback_bytes(c, who, request, opened, gone, camera_id, stream,
                                found.start_utc_us, found.end_utc_us, reason, pt, detail,
                                "no-store")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # renamed or purged meanwhile: MediaFile then ends the body short
        return 0.0


router.add_api_route("/cameras/{camera_id}/recording/{file_name}", recording_media,
                     methods=["HEAD"], include_in_schema=False)
