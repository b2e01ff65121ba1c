"""Request bodies are capped (`GUETTEUR_MAX_BODY_BYTES`, 1 MiB by default): a pure ASGI
middleware in front of everything else, so that no handler, form parser or CSRF check ever
reads more than the cap.

Invariants: a request whose Content-Length announces more is answered 413 before its body is
read; a body sent without one (chunked) or longer than it announced is counted as it streams,
and the moment the count passes the cap the application sees the client go away while the
client gets 413 (French JSON, the `TooLarge` of `domain/errors.py`). Nothing the application
sends after that reaches the client. No route needs more: no form or API call uploads files
(the largest legitimate bodies are camera and case forms of a few kilobytes).
"""

from __future__ import annotations

import json
from typing import Any

from guetteur.domain.errors import TooLarge
from guetteur.web.errors import status_of


def _too_large(max_bytes: int) -> TooLarge:
    size = f"{max_bytes // 1024} ko" if max_bytes < 1 << 20 else f"{max_bytes >> 20} Mo"
    return TooLarge(f"Requête trop volumineuse : {size} au plus. Réduisez le contenu envoyé.")


class BodyLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name.lower() == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    announced = 0
                if announced > self.max_bytes:
                    await self._refuse(send)
                    return
        received = 0
        state = {"refused": False, "started": False}

        async def counted_receive() -> dict[str, Any]:
            nonlocal received
            if state["refused"]:
                return {"type": "http.disconnect"}
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    state["refused"] = True
                    if not state["started"]:
                        state["started"] = True
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            if state["refused"]:
                return  # the 413 went out: the application's answer is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise
            # the application gave up on the body it saw cut short: already answered

    async def _refuse(self, send: Any) -> None:
        error = _too_large(self.max_bytes)
        data = json.dumps({"error": type(error).__name__, "message": error.message},
                          ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status_of(error),
                    "headers": [(b"content-type", b"application/json; charset=utf-8"),
                                (b"content-length", str(len(data)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": data})
