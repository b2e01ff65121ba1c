"""Authentication for every route: a pure ASGI middleware in front of the whole app.

No route answers without a valid session, except the login page, static files and the health
probe: a route added later is protected without having to remember it. Pages redirect to the
login, the API answers 401, WebSockets are refused before the handshake. State-changing
requests whose Origin is another site are refused (CSRF), on top of SameSite=Strict cookies.
The authenticated `Principal` is put in `scope["state"]["principal"]`.
"""

from __future__ import annotations

import asyncio
import json
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request, WebSocket

from guetteur.domain.errors import NotAuthenticated
from guetteur.domain.permissions import Principal
from guetteur.services.accounts import Accounts

COOKIE = "guetteur_session"
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = {"/login", "/healthz"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def session_token(scope: dict[str, Any]) -> str | None:
    raw = _headers(scope).get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


class SessionMiddleware:
    def __init__(self, app: Any, accounts: Accounts) -> None:
        self.app = app
        self.accounts = accounts

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        token = session_token(scope)
        who = await asyncio.to_thread(self.accounts.session_principal, token) if token else None
        if who is None:
            await self._refuse(scope, receive, send)
            return
        cross_site = not _same_origin(scope)
        if scope["type"] == "websocket" and cross_site:
            await receive()
            await send({"type": "websocket.close", "code": 4403})
            return
        if scope["type"] == "http" and scope["method"] in UNSAFE and cross_site:
            await _send_json(send, 403, {"error": "Forbidden",
                                         "message": "Requête d'une autre origine refusée."})
            return
        scope.setdefault("state", {})["principal"] = who
        await self.app(scope, receive, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 4401})
            return
        path = scope["path"]
        accepts_html = "text/html" in _headers(scope).get("accept", "")
        if scope["method"] == "GET" and not path.startswith("/api/") and accepts_html:
            query = scope.get("query_string", b"").decode()
            target = path + (f"?{query}" if query else "")
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", f"/login?next={quote(target)}".encode()),
                                    (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await _send_json(send, 401, {"error": "NotAuthenticated",
                                     "message": "Session absente ou expirée : connectez-vous."})


def _same_origin(scope: dict[str, Any]) -> bool:
    """True unless the request says it comes from another site (no Origin: not a browser's
    cross-site request, e.g. the CLI or a test client)."""
    headers = _headers(scope)
    origin = headers.get("origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc == headers.get("host")


async def _send_json(send: Any, status: int, body: dict[str, str]) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated user (the middleware guarantees one)."""
    who = request.scope.get("state", {}).get("principal")
    if who is None:
        raise NotAuthenticated("Session absente ou expirée : connectez-vous.")
    return who  # type: ignore[no-any-return]


def ws_principal(websocket: WebSocket) -> Principal:
    who = websocket.scope.get("state", {}).get("principal")
    if who is None:
        raise NotAuthenticated("Session absente ou expirée : connectez-vous.")
    return who  # type: ignore[no-any-return]


def client_addr(request: Request | WebSocket) -> str | None:
    return request.client.host if request.client else None
