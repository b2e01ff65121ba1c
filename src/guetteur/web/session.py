"""Authentication for every route: a pure ASGI middleware in front of the whole app.

No route answers without a valid session, except the login page, static files and the health
probe: a route added later is protected without having to remember it. Pages redirect to the
login, the API answers 401, WebSockets are refused before the handshake. A session whose second
factor is still pending opens only the second-factor pages. Requests whose Origin is another
site are refused; on top of that every state-changing request must carry the session's CSRF
token (`csrf_protect`, header `X-CSRF-Token` or form field `csrf_token`).
The authenticated `Principal` is put in `scope["state"]["principal"]`, the session's CSRF token
in `scope["state"]["csrf"]`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request, WebSocket

from guetteur.domain.errors import Forbidden, NotAuthenticated
from guetteur.domain.permissions import Principal
from guetteur.services.accounts import Accounts

COOKIE = "guetteur_session"
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = {"/login", "/healthz", "/metrics"}  # /metrics: address or token
PENDING_PATHS = {"mfa": "/login/mfa", "enrol": "/login/enrol"}
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
        if scope["type"] == "http" and scope["method"] in UNSAFE and not _same_origin(scope):
            # before the public paths: a cross-site login form (login CSRF) is refused too
            await _send_json(send, 403, {"error": "Forbidden",
                                         "message": "Requête d'une autre origine refusée."})
            return
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        token = session_token(scope)
        info = await asyncio.to_thread(self.accounts.session, token) if token else None
        if info is None:
            await self._refuse(scope, receive, send)
            return
        if info.stage != "full":
            pending = PENDING_PATHS.get(info.stage, "/login")
            if path not in (pending, "/logout"):
                await self._refuse(scope, receive, send, location=pending)
                return
        who = info.principal
        cross_site = not _same_origin(scope)
        if scope["type"] == "websocket" and cross_site:
            await receive()
            await send({"type": "websocket.close", "code": 4403})
            return
        state = scope.setdefault("state", {})
        state["principal"] = who
        state["csrf"] = info.csrf_token
        state["stage"] = info.stage
        await self.app(scope, receive, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any,
                      location: str | None = None) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 4401})
            return
        path = scope["path"]
        accepts_html = "text/html" in _headers(scope).get("accept", "")
        if scope["method"] == "GET" and not path.startswith("/api/") and accepts_html:
            query = scope.get("query_string", b"").decode()
            target = path + (f"?{query}" if query else "")
            where = location or f"/login?next={quote(target)}"
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", where.encode()),
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


async def csrf_protect(request: Request) -> None:
    """Router dependency: a state-changing request must carry the session's CSRF token."""
    if request.method not in UNSAFE:
        return
    expected = request.scope.get("state", {}).get("csrf")
    if not expected:
        return  # no session (the login form): SameSite=Strict and the Origin check apply
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, expected):
        raise Forbidden("Jeton CSRF absent ou invalide : rechargez la page et recommencez.")


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
