"""Request bodies are capped (GUETTEUR_MAX_BODY_BYTES, 1 MiB by default): 413 with a French
message whether the Content-Length announces too much, lies, or is absent (chunked), and the
body is not read past the cap; normal logins and API calls still work. On the real app in
process (TestClient, then the ASGI interface itself to count what is read) and on the real
server (uvicorn, a chunked upload over a socket)."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from starlette.testclient import TestClient

from guetteur.web.app import create_app
from support import ServerProcess

MB = 1 << 20
PASSWORD = "Aud1trice-l0ng-password"


def _app(make_container: Any, sqlite_url: str) -> Any:
    c = make_container(sqlite_url)
    c.accounts.add_user("auditrice", PASSWORD, "auditor")
    return create_app(c, run_background=False)


def test_a_10_mb_body_gets_413_and_a_normal_login_still_works(make_container: Any,
                                                               sqlite_url: str) -> None:
    with TestClient(_app(make_container, sqlite_url)) as client:
        r = client.post("/login", content=b"username=a&password=" + b"x" * (10 * MB),
                        headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413
        assert "trop volumineuse" in r.json()["message"] and "1 Mo" in r.json()["message"]
        r = client.post("/api/cameras", json={"name": "x" * (2 * MB)})
        assert r.status_code == 413  # before the session check: nobody reads it
        r = client.post("/login", data={"username": "auditrice", "password": PASSWORD},
                        follow_redirects=False)
        assert r.status_code == 303


def _asgi_post(app: Any, headers: list[tuple[bytes, bytes]], chunks: int,
               chunk: bytes) -> tuple[int, bytes, int]:
    """POST /login straight through the ASGI interface; (status, body, chunks read)."""
    sent: list[dict[str, Any]] = []
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read >= chunks:
            await asyncio.sleep(3600)  # a client that sent everything and waits
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": read < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/login", "raw_path": b"/login",
             "query_string": b"", "root_path": "", "server": ("testserver", 80),
             "client": ("192.0.2.5", 5000),
             "headers": [(b"host", b"testserver"),
                         (b"content-type", b"application/x-www-form-urlencoded"), *headers]}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, read


def test_a_chunked_or_lying_body_is_counted_and_cut_at_the_cap(make_container: Any,
                                                               sqlite_url: str) -> None:
    app = _app(make_container, sqlite_url)
    chunk = b"x" * (64 * 1024)
    for headers in ([], [(b"content-length", b"20")]):  # chunked; a lying header
        status, body, read = _asgi_post(app, headers, chunks=160, chunk=chunk)  # 10 MiB
        assert status == 413, headers
        assert "trop volumineuse" in json.loads(body)["message"]
        assert read == MB // len(chunk) + 1  # not a chunk more than needed to pass the cap
    ok = b"username=auditrice&password=" + PASSWORD.encode()
    status, _, _ = _asgi_post(app, [], chunks=1, chunk=ok)
    assert status == 303


def test_the_server_refuses_a_chunked_upload_past_the_cap(tmp_path: Any) -> None:
    server = ServerProcess(tmp_path / "var", max_body_bytes=64 * 1024)
    assert server.cli("user", "add", "auditrice", "--role", "auditor",
                      stdin=PASSWORD + "\n").returncode == 0
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            piece = b"x" * 8192
            answer = b""
            try:
                for _ in range(1280):  # 10 MiB, unless the server answers first
                    sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except (BrokenPipeError, ConnectionResetError):
                pass
            sock.settimeout(10)
            try:
                while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
                    data = sock.recv(65536)
                    if not data:
                        break
                    answer += data
            except (ConnectionResetError, TimeoutError):
                pass
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert "trop volumineuse" in answer.decode("utf-8", "replace")
        import httpx

        r = httpx.post(server.base_url + "/login",
                       data={"username": "auditrice", "password": PASSWORD}, timeout=10)
        assert r.status_code == 303
    finally:
        server.stop()
