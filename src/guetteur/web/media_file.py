"""Sending a media file (segment, clip, export package, plate crop) exactly as planned.

`open_media(path, request)` stats the file and computes its `byte_ranges.Plan` from the
request's `Range` / `If-Range`; the route records the plan in the audit decision and returns
`MediaFile(opened, ...)`, which sends those bytes and no others: 200 (whole), 206 (one range,
`Content-Range`) or 416 (`Content-Range: bytes */size`, no body). HEAD sends the same headers
without a body. The ETag is strong (size and mtime in nanoseconds).

Invariant: `MediaFile` never looks at the request's headers itself, so no second parser can
disagree with the one the route decided on.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from guetteur.web.byte_ranges import Plan, plan

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class OpenedMedia:
    path: Path
    size_bytes: int
    etag: str
    last_modified: str
    plan: Plan


def open_media(path: Path, request: Request) -> OpenedMedia | None:
    """The file's facts and the plan for this request; None if there is no such file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
    last_modified = formatdate(st.st_mtime, usegmt=True)
    return OpenedMedia(path, st.st_size, etag, last_modified,
                       plan(size_bytes=st.st_size, method=request.method,
                            range_header=request.headers.get("range"),
                            if_range=request.headers.get("if-range"), etag=etag,
                            last_modified=last_modified))


class MediaFile(Response):
    """The planned bytes of an opened file."""

    def __init__(self, opened: OpenedMedia, media_type: str, *, filename: str | None = None,
                 headers: dict[str, str] | None = None,
                 background: BackgroundTask | None = None) -> None:
        self.opened = opened
        p = opened.plan
        self.status_code = p.status
        self.media_type = "text/plain; charset=utf-8" if p.status == 416 else media_type
        self.background = background
        self.body = b""
        self.init_headers(headers)
        h = self.headers
        h["accept-ranges"] = "bytes"
        if p.status == 416:
            h["content-range"] = f"bytes */{p.size_bytes}"
            h["content-length"] = "0"
            return
        h["content-length"] = str(p.length_bytes)
        h["etag"] = opened.etag
        h["last-modified"] = opened.last_modified
        if p.status == 206:
            h["content-range"] = f"bytes {p.first}-{p.last}/{p.size_bytes}"
        if filename is not None:
            quoted = quote(filename)
            h["content-disposition"] = (f'attachment; filename="{filename}"'
                                        if quoted == filename
                                        else f"attachment; filename*=utf-8''{quoted}")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        p = self.opened.plan
        if scope.get("method", "GET").upper() == "HEAD" or p.status == 416:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            remaining = p.length_bytes
            async with await anyio.open_file(self.opened.path, "rb") as f:
                await f.seek(p.first)
                while remaining > 0:
                    chunk = await f.read(min(CHUNK_BYTES, remaining))
                    if not chunk:  # the file shrank since it was opened: end the body short
                        break
                    remaining -= len(chunk)
                    await send({"type": "http.response.body", "body": chunk,
                                "more_body": remaining > 0})
            if remaining > 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        if self.background is not None:
            await self.background()
