"""GET /metrics: the node's Prometheus metrics (adapters/metrics.py), and the count of media
responses by kind.

No pixels, but operational data (how many cameras, what fails): outside the session check (a
Prometheus server has no session) and open only to a client whose address is in
GUETTEUR_METRICS_ALLOW (CIDR list; default loopback) or that sends
`Authorization: Bearer GUETTEUR_METRICS_TOKEN`. Anyone else gets a French 403. The metrics
carry no camera name, URL or credential (only bounded labels).

`MediaCountMiddleware` counts every response of a route registered with `media_route()` by
kind (the last part of its path) and status class, after routing has named the route.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from guetteur.adapters.metrics import CONTENT_TYPE
from guetteur.bootstrap import Container
from guetteur.domain.errors import Forbidden
from guetteur.settings import Settings
from guetteur.web.deps import container
from guetteur.web.routes_media import MEDIA_ROUTES

router = APIRouter(include_in_schema=False)
Dep = Annotated[Container, Depends(container)]
PATH = "/metrics"
REFUSED = ("Accès aux métriques refusé : autorisez l'adresse du serveur Prometheus dans "
           "GUETTEUR_METRICS_ALLOW ou envoyez le jeton GUETTEUR_METRICS_TOKEN "
           "(en-tête Authorization: Bearer).")


def allowed_networks(settings: Settings) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of GUETTEUR_METRICS_ALLOW (checked when the settings were read)."""
    return [ipaddress.ip_network(part.strip(), strict=False)
            for part in settings.metrics_allow.split(",") if part.strip()]


def may_read(settings: Settings, addr: str | None, authorization: str | None) -> bool:
    token = settings.metrics_token
    if token and authorization:
        scheme, _, sent = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(),
                                                              token.encode()):
            return True
    try:
        ip = ipaddress.ip_address(addr or "")
    except ValueError:
        return False
    return any(ip in net for net in allowed_networks(settings))


@router.get(PATH)
async def metrics(request: Request, c: Dep) -> Response:
    addr = request.client.host if request.client else None
    if not may_read(c.settings, addr, request.headers.get("authorization")):
        raise Forbidden(REFUSED)
    body = await asyncio.to_thread(c.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def media_kind(route_path: str) -> str:
    """`/api/cameras/{camera_id}/clip.mp4` -> `clip`; `/api/segments/{id}/media` -> `segment`."""
    last = route_path.rstrip("/").rsplit("/", 1)[-1]
    if last.startswith("{"):  # /recording/{file_name}: the file being written
        return "recording"
    return {"media": "segment", "playback.m3u8": "playlist", "at": "frame",
            "download": "export"}.get(last, last.split(".", 1)[0])


class MediaCountMiddleware:
    """Pure ASGI: sees the route FastAPI chose (scope["route"]) once the response starts."""

    def __init__(self, app: Any, c: Container) -> None:
        self.app = app
        self._metrics = c.metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def counting_send(message: dict[str, Any]) -> None:
            route = getattr(scope.get("route"), "path", None)
            if route in MEDIA_ROUTES:
                kind = media_kind(route)
                if message["type"] == "http.response.start":
                    self._metrics.count_media(kind, int(message["status"]))
                elif message["type"] == "websocket.accept":
                    self._metrics.count_media(kind, 101)
                elif message["type"] == "websocket.close" and not accepted:
                    self._metrics.count_media(kind, 403)
            if message["type"] == "websocket.accept":
                accepted.append(True)
            await send(message)

        accepted: list[bool] = []
        await self.app(scope, receive, counting_send)
