"""The bytes of a recorded file that has no row yet: the segment being written (up to its
last complete fragment, never a fragment being written) or one waiting for the writer.
Playlists that reach the live edge point here (services/open_segments.py, decision 0008).

Gated like every media route (`AccessGate.authorize_media` on the first request of a file,
`check_media` on the following byte ranges), registered with `media_route`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from guetteur.domain.errors import InvalidInput
from guetteur.services.open_segments import byte_window
from guetteur.web.routes_media import Dep, Reason, Who, _stream, media_route
from guetteur.web.session import client_addr

router = APIRouter(prefix="/api", tags=["media"])  # GET only: no CSRF surface
_FILE_RE = re.compile(r"^\w{1,64}_\d{6}\.mp4$")
_CHUNK_BYTES = 256 * 1024


@router.get(media_route("/cameras/{camera_id}/recording/{file_name}"))
async def recording_media(camera_id: int, file_name: str, request: Request, c: Dep, who: Who,
                          stream: str = "main", reason: Reason = None) -> Any:
    header = request.headers.get("range")
    if header is None or header.startswith("bytes=0-"):
        await asyncio.to_thread(c.gate.authorize_media, who, "playback", camera_id,
                                client_addr=client_addr(request), reason=reason,
                                detail={"recording": file_name, "stream": stream})
    else:
        await asyncio.to_thread(c.gate.check_media, who, "playback", camera_id)
    if not _FILE_RE.match(file_name):
        raise InvalidInput("Nom de fichier d'enregistrement invalide.", "file_name")
    found = await asyncio.to_thread(c.open_segments.readable, camera_id, _stream(stream),
                                    file_name)
    start, end = byte_window(header, found.size_bytes)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start),
               "Cache-Control": "no-store"}
    if header is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{found.size_bytes}"
    fh = await asyncio.to_thread(found.path.open, "rb")

    async def body() -> AsyncIterator[bytes]:
        try:
            await asyncio.to_thread(fh.seek, start)
            left = end - start
            while left > 0:
                chunk = await asyncio.to_thread(fh.read, min(_CHUNK_BYTES, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk
        finally:
            fh.close()

    return StreamingResponse(body(), status_code=206 if header is not None else 200,
                             media_type="video/mp4", headers=headers)
