"""Routes that return pixels. Every one calls `AccessGate.authorize_media` (which audits)
before sending a byte: live WebSocket, HLS playlist, segment bytes, clip download.

Segment bytes are one way: every request (any Range, HEAD, If-Range) runs the full decision
(case reference included); it is covered by the playlist's audit event when it carries that
playlist's valid playback token (`pt`), and writes its own event otherwise — a token-less
request still works for whoever holds the right, audited each time. Files are sent by
`web/media_file.py` from the one Range parser (`web/byte_ranges.py`).

`tests/integration/test_web_api.py` enumerates the app's routes: a media route added
without the gate fails the build.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse
from starlette.background import BackgroundTask

from guetteur.adapters.media.clip import ClipPart, remux_clip
from guetteur.bootstrap import Container
from guetteur.domain.errors import (
    GuetteurError,
    InvalidInput,
    MediaError,
    NoFootage,
    NotFound,
    RangeNotSatisfiable,
)
from guetteur.domain.permissions import Principal
from guetteur.domain.timeutil import PARIS, from_us, parse_instant
from guetteur.services.hls import playlist
from guetteur.services.open_segments import at_json
from guetteur.web.deps import container
from guetteur.web.media_file import MediaFile, OpenedMedia, open_media
from guetteur.web.session import client_addr, principal, ws_principal

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["media"])  # GET and WebSocket only: no CSRF surface
Dep = Annotated[Container, Depends(container)]
Who = Annotated[Principal, Depends(principal)]
From = Annotated[str, Query(alias="from", description="ISO 8601 or UTC microseconds")]
Reason = Annotated[str | None, Query(max_length=256, description="case reference (required "
                                     "for investigators)")]
To = Annotated[str, Query(description="ISO 8601 or UTC microseconds")]
Token = Annotated[str | None, Query(max_length=200, description="playback token from the "
                                    "playlist (see domain/playback_token.py)")]
MEDIA_ROUTES: set[str] = set()


def media_route(path: str, prefix: str = "") -> str:
    """Register a route that returns pixels (`path` is relative to the router's /api prefix,
    or give the prefix when the router has none)."""
    MEDIA_ROUTES.add("/api" + path)
    return prefix + path


def _stream(stream: str) -> str:
    if stream not in ("main", "sub"):
        raise InvalidInput("stream : « main » ou « sub ».", "stream")
    return stream


def _range(from_: str, to: str, max_s: int) -> tuple[int, int]:
    start, end = parse_instant(from_, "from"), parse_instant(to, "to")
    if end <= start:
        raise InvalidInput("La fin doit être après le début.", "to")
    if end - start > max_s * 1_000_000:
        raise InvalidInput(f"Plage trop longue : {max_s // 3600} h au plus.", "to")
    return start, end


def segment_query(c: Container, who: Principal, camera_id: int, stream: str, start_us: int,
                  end_us: int, event_id: int, reason: str | None) -> str:
    """`?pt=<playback token>[&reason=]` for a playlist's segment addresses: they are covered
    by the playlist's audit event `event_id` (see domain/playback_token.py)."""
    token = c.gate.issue_playback_token(who, camera_id, stream, start_us, end_us, event_id,
                                        reason)
    return "?" + urlencode({"pt": token, **({"reason": reason} if reason else {})})


@router.get(media_route("/cameras/{camera_id}/playback.m3u8"),
            response_class=PlainTextResponse)
async def playback_playlist(camera_id: int, request: Request, c: Dep, who: Who,
                            from_: From, to: To, stream: str = "main",
                            reason: Reason = None) -> Any:
    start, end = _range(from_, to, 48 * 3600)
    event_id = await asyncio.to_thread(c.gate.authorize_media, who, "playback", camera_id,
                                       range_from_utc_us=start, range_to_utc_us=end,
                                       client_addr=client_addr(request), reason=reason,
                                       detail={"stream": stream})
    await asyncio.to_thread(c.registry.get, camera_id)
    segments = await asyncio.to_thread(c.open_segments.covering, camera_id, _stream(stream),
                                       start, end)
    query = segment_query(c, who, camera_id, stream, start, end, event_id, reason)
    return PlainTextResponse(playlist(segments, query),
                             media_type="application/vnd.apple.mpegurl",
                             headers={"Cache-Control": "no-store"})


@router.get(media_route("/segments/{segment_id}/media"))
async def segment_media(segment_id: int, request: Request, c: Dep, who: Who,
                        reason: Reason = None, pt: Token = None) -> Any:
    """Segment bytes (any Range form, HEAD, If-Range: `web/byte_ranges.py`). Covered by the
    playlist's audit event when `pt` is a valid playback token for this segment, else audited
    on its own; the full decision runs every time."""
    addr = client_addr(request)
    try:
        seg = await asyncio.to_thread(c.index.get, segment_id)
    except NotFound as exc:  # decided as an unknown object: 403 or 404, audited either way
        await asyncio.to_thread(c.gate.authorize_media, who, "playback", None,
                                client_addr=addr, reason=reason, unavailable=exc,
                                detail={"segment_id": segment_id})
        raise
    opened = await asyncio.to_thread(open_media, c.store.path_of(seg.storage_key), request)
    gone = None if opened is not None else NotFound(
        "Fichier du segment introuvable (voir `guetteur check`).")
    if opened is not None and opened.plan.status == 416:
        gone = RangeNotSatisfiable("Plage d'octets hors du fichier.", opened.size_bytes)
    detail: dict[str, object] = {"segment_id": segment_id, "method": request.method,
                                 "bytes": opened.plan.describe() if opened else None}
    return await playback_bytes(c, who, request, opened, gone, seg.camera_id, seg.stream,
                                seg.start_utc_us, seg.end_utc_us, reason, pt, detail,
                                "private, max-age=3600")


async def playback_bytes(c: Container, who: Principal, request: Request,
                         opened: OpenedMedia | None, gone: GuetteurError | None,
                         camera_id: int, stream: str, start_utc_us: int, end_utc_us: int,
                         reason: str | None, pt: str | None, detail: dict[str, object],
                         cache_control: str) -> MediaFile:
    """The planned bytes of a recorded file, after the full decision: covered by the
    playlist's event when `pt` is valid for this file, else audited on its own (with why no
    token was taken); `gone` is the error the request ends with although the right may hold."""
    covered_by, why_not = c.gate.playback_cover(pt, who, camera_id, stream, start_utc_us,
                                                end_utc_us, reason)
    if covered_by is None:
        detail["token"] = why_not
    await asyncio.to_thread(c.gate.authorize_media, who, "playback", camera_id,
                            range_from_utc_us=start_utc_us, range_to_utc_us=end_utc_us,
                            client_addr=client_addr(request), reason=reason, detail=detail,
                            unavailable=gone, covered_by=covered_by)
    assert opened is not None
    return MediaFile(opened, "video/mp4", headers={"Cache-Control": cache_control})


# HEAD through the very same handler (and gate); kept out of the OpenAPI schema, where a
# second operation of the same function would clash with the GET one.
router.add_api_route("/segments/{segment_id}/media", segment_media, methods=["HEAD"],
                     include_in_schema=False)


@router.get(media_route("/cameras/{camera_id}/at"))
async def segment_at(camera_id: int, request: Request, c: Dep, who: Who, t: str,
                     stream: str = "main", reason: Reason = None) -> dict[str, Any]:
    instant = parse_instant(t, "t")
    # looked up first, so that "nothing recorded" is written as such, not as a granted seek
    seg = await asyncio.to_thread(c.open_segments.at, camera_id, _stream(stream), instant)
    await asyncio.to_thread(c.gate.authorize_media, who, "playback", camera_id,
                            range_from_utc_us=instant, client_addr=client_addr(request),
                            reason=reason, detail={"seek": True},
                            unavailable=None if seg is not None else NoFootage(
                                "Aucun enregistrement à cet instant ni après."))
    assert seg is not None
    return at_json(seg, instant)


@router.get(media_route("/cameras/{camera_id}/clip.mp4"))
async def clip(camera_id: int, request: Request, c: Dep, who: Who, from_: From, to: To,
               stream: str = "main", reason: Reason = None) -> Any:
    start, end = _range(from_, to, c.settings.max_clip_s)
    # resolved before deciding (nothing is shown before the decision), so that a clip of
    # nothing is not written down as a granted export
    segments = await asyncio.to_thread(c.index.covering, camera_id, _stream(stream), start, end)
    await asyncio.to_thread(c.gate.authorize_media, who, "export", camera_id,
                            range_from_utc_us=start, range_to_utc_us=end,
                            client_addr=client_addr(request), reason=reason,
                            detail={"kind": "clip"}, unavailable=None if segments else NoFootage(
                                "Aucun enregistrement dans cette plage pour cette caméra."))
    cam = await asyncio.to_thread(c.registry.get, camera_id)
    parts = [ClipPart(c.store.path_of(s.storage_key), s.start_utc_us, s.end_utc_us)
             for s in segments]
    tmp = Path(tempfile.mkstemp(prefix="guetteur-clip-", suffix=".mp4")[1])
    try:
        await remux_clip(c.settings.ffmpeg_path, parts, start, end, tmp)
    except GuetteurError:
        tmp.unlink(missing_ok=True)
        raise
    stamp = from_us(start).astimezone(PARIS).strftime("%Y-%m-%d_%Hh%Mm%Ss")
    name = f"{cam.name.replace(' ', '_')}_{stamp}_Paris.mp4"
    opened = await asyncio.to_thread(open_media, tmp, request)
    if opened is None:
        raise MediaError("Le montage de l'extrait a échoué.")
    return MediaFile(opened, "video/mp4", filename=name,
                     background=BackgroundTask(tmp.unlink, missing_ok=True))


@router.websocket(media_route("/cameras/{camera_id}/live"))
async def live(websocket: WebSocket, camera_id: int, stream: str = "main") -> None:
    c: Container = websocket.app.state.container
    who = ws_principal(websocket)
    try:
        _stream(stream)
        event_id = await asyncio.to_thread(
            c.gate.authorize_media, who, "live", camera_id, client_addr=client_addr(websocket),
            range_from_utc_us=c.clock.now_us(), detail={"stream": stream})
        await asyncio.to_thread(c.registry.get, camera_id)
    except GuetteurError as exc:
        await websocket.close(code=4403, reason=exc.message[:120])
        return
    assert c.live is not None
    channel = c.live.channel(camera_id, stream)
    sub = channel.subscribe()
    await websocket.accept()
    closer = asyncio.create_task(_wait_close(websocket))
    revoked = asyncio.create_task(_until_revoked(c, who, camera_id))
    try:
        while not closer.done():
            getter = asyncio.create_task(sub.queue.get())
            done, _ = await asyncio.wait({getter, closer, revoked},
                                         return_when=asyncio.FIRST_COMPLETED)
            if revoked in done:
                getter.cancel()
                await websocket.send_text(json.dumps({"type": "status", "state": "forbidden"}))
                await websocket.close(code=4403, reason="droit expiré")
                break
            if getter not in done:
                getter.cancel()
                break
            msg = getter.result()
            if msg.kind == "init":
                mime = f'video/mp4; codecs="{msg.codec}"'
                await websocket.send_text(json.dumps({"type": "init", "mime": mime}))
                await websocket.send_bytes(msg.data)
            elif msg.kind == "fragment":
                await websocket.send_bytes(msg.data)
            else:
                await websocket.send_text(json.dumps({"type": "status", "state": msg.state}))
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass
    finally:
        # Written first and without awaiting: a shutdown that cancels this handler must not
        # lose the end of the view from the audit trail.
        try:
            c.audit.append("live_end", user_id=who.user_id, username=who.username,
                           camera_id=camera_id, range_to_utc_us=c.clock.now_us(),
                           client_addr=client_addr(websocket),
                           detail={"opened_by_event": event_id})
        except Exception:
            log.exception("live_end audit event not written")
        for task in (closer, revoked):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await channel.unsubscribe(sub)


RECHECK_S = 5.0


async def _until_revoked(c: Container, who: Principal, camera_id: int) -> None:
    """Returns when the viewer loses the right to this live view (habilitation or grant
    expired, grant revoked, account disabled): checked every few seconds while it plays."""
    while True:
        await asyncio.sleep(RECHECK_S)
        current = await asyncio.to_thread(c.accounts.principal_of, who.user_id)
        if not await asyncio.to_thread(c.gate.allowed, current, "live", camera_id):
            return


async def _wait_close(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
