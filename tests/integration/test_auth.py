"""Authentication through the web app (TestClient, SQLite, a FakeClock so that TOTP codes and
expiry are deterministic): login with enrolment and with the second factor, wrong and replayed
codes, pending sessions, CSRF on every state-changing route, idle and absolute expiry, disabled
accounts and password resets, the cookie's flags. Every outcome is audited. Throttling has its
own tests in `test_login_throttle.py`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from guetteur.adapters.db.models import AuditEvent, WebSession
from guetteur.bootstrap import Container
from guetteur.domain.cameras import CameraSpec
from guetteur.domain.clock import FakeClock
from guetteur.domain.permissions import Principal
from guetteur.web.app import create_app
from guetteur.web.session import COOKIE
from support import CSRF_FIELD, TOTP_SECRET, app_routes, page_value, totp_code

T0 = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z
S = 1_000_000
IDLE_S, ABSOLUTE_S = 60, 300
PASSWORDS = {"operateur": "Op3rateur-l0ng-password", "admin": "Adm1n-l0ng-password",
             "auditrice": "Aud1trice-l0ng-password"}


@dataclass
class Env:
    c: Container
    client: TestClient
    clock: FakeClock
    users: dict[str, Principal]

    def audit(self, *actions: str) -> list[AuditEvent]:
        with self.c.sessions() as db:
            query = select(AuditEvent).order_by(AuditEvent.id)
            if actions:
                query = query.where(AuditEvent.action.in_(actions))
            return list(db.scalars(query))

    def actions(self) -> list[str]:
        return [e.action for e in self.audit()]

    def fresh(self) -> TestClient:
        """The client with no cookie and no CSRF header."""
        self.client.cookies.clear()
        self.client.headers.pop("x-csrf-token", None)
        return self.client

    def use(self, token: str) -> TestClient:
        """Send this session's cookie and its CSRF token (as the UI's fetch() does)."""
        client = self.fresh()
        client.cookies.set(COOKIE, token)
        info = self.c.accounts.session(token)
        if info is not None:
            client.headers["x-csrf-token"] = info.csrf_token
        return client

    def session_of(self, username: str) -> str:
        """A full session opened directly (the login itself is tested below)."""
        return self.c.accounts.open_session(self.users[username], "testclient")

    def login(self, username: str, password: str | None = None, next: str = "/") -> Any:
        return self.fresh().post("/login", data={
            "username": username, "password": password or PASSWORDS[username], "next": next},
            follow_redirects=False)

    def enrol(self, username: str) -> str:
        """Enrol the second factor through the service; returns the secret. The fake clock
        moves on a step, so the code used here is not the next one."""
        uid = self.users[username].user_id
        secret, _ = self.c.accounts.begin_enrolment(uid)
        assert self.c.accounts.check_totp(uid, self.code(secret), enrolling=True)
        self.clock.advance(30)
        return secret

    def code(self, secret: str) -> str:
        return totp_code(secret, self.clock.now_us())

    def wrong_code(self, secret: str) -> str:
        """Six digits that no code of the accepted window (one step either side) equals."""
        window = {totp_code(secret, self.clock.now_us() + d * S) for d in (-30, 0, 30)}
        return next(f"{i:06d}" for i in range(4) if f"{i:06d}" not in window)

    def login_with_code(self, username: str, secret: str) -> str:
        r = self.login(username)
        assert r.status_code == 303 and r.headers["location"].startswith("/login/mfa")
        token = r.cookies[COOKIE]
        r = self.use(token).post("/login/mfa", data={"code": self.code(secret)},
                                 follow_redirects=False)
        assert r.status_code == 303, r.text[:300]
        return token


@pytest.fixture
def env(sqlite_url: str, make_container: Any) -> Iterator[Env]:
    clock = FakeClock(T0)
    c = make_container(sqlite_url, clock=clock, session_idle_s=IDLE_S,
                       session_absolute_s=ABSOLUTE_S)
    c.registry.add(CameraSpec(name="Mairie", main_url="rtsp://192.0.2.10/s"))
    users = {name: c.accounts.add_user(name, PASSWORDS[name], role)
             for name, role in (("operateur", "operator"), ("admin", "admin"),
                                ("auditrice", "auditor"))}
    for action in ("live", "playback"):
        c.grants.add("operateur", action, "cameras", "1")
    with TestClient(create_app(c, run_background=False)) as client:
        yield Env(c, client, clock, users)


# -- second factor ----------------------------------------------------------------------------

def test_an_operator_enrols_then_logs_in_with_the_second_factor(env: Env) -> None:
    r = env.login("operateur", next="/live/1")
    assert r.status_code == 303
    assert r.headers["location"] == "/login/enrol?next=/live/1"
    token = r.cookies[COOKIE]
    assert env.audit("login") == []

    client = env.fresh()
    client.cookies.set(COOKIE, token)
    page = client.get("/login/enrol?next=/live/1")
    assert page.status_code == 200
    secret = page_value(page.text, TOTP_SECRET)
    csrf = page_value(page.text, CSRF_FIELD)
    assert csrf == env.c.accounts.session(token).csrf_token  # type: ignore[union-attr]
    qr = page_value(page.text, r'src="data:image/svg\+xml;base64,([^"]+)"')
    assert b"<svg" in base64.b64decode(qr)
    assert env.c.accounts.begin_enrolment(env.users["operateur"].user_id)[0] == secret

    r = client.post("/login/enrol", data={"code": env.code(secret), "next": "/live/1",
                                          "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/live/1"
    assert env.actions()[-2:] == ["mfa_enrolled", "login"]
    assert json.loads(env.audit("login")[0].detail) == {"second_factor": True}
    client = env.use(token)
    assert client.get("/api/cameras").status_code == 200
    assert client.get("/live/1", headers={"accept": "text/html"}).status_code == 200
    assert client.post("/logout", follow_redirects=False).status_code == 303

    # the next login asks for a code, not for an enrolment
    env.clock.advance(30)
    r = env.login("operateur", next="/live")
    assert r.status_code == 303 and r.headers["location"] == "/login/mfa?next=/live"
    token = r.cookies[COOKIE]
    client = env.fresh()
    client.cookies.set(COOKIE, token)
    page = client.get("/login/mfa?next=/live")
    assert page.status_code == 200 and 'name="code"' in page.text
    r = client.post("/login/mfa", data={"code": env.code(secret), "next": "/live",
                                        "csrf_token": page_value(page.text, CSRF_FIELD)},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/live"
    assert env.use(token).get("/api/cameras").status_code == 200
    assert [e.action for e in env.audit("login", "mfa_enrolled", "mfa_failed")] == [
        "mfa_enrolled", "login", "login"]


def test_a_wrong_code_is_refused_and_audited(env: Env) -> None:
    secret = env.enrol("operateur")
    r = env.login("operateur")
    token = r.cookies[COOKIE]
    client = env.use(token)
    right = env.code(secret)
    for code in (env.wrong_code(secret), "12345", "abcdef", ""):
        r = client.post("/login/mfa", data={"code": code}, follow_redirects=False)
        assert r.status_code == 401, code
        assert "Code incorrect" in r.text
    failed = env.audit("mfa_failed")
    assert len(failed) == 4
    assert {(e.username, e.user_id) for e in failed} == {
        ("operateur", env.users["operateur"].user_id)}
    assert right not in json.dumps([e.detail for e in failed])
    assert env.use(token).get("/api/cameras").status_code == 401  # still pending
    r = env.use(token).post("/login/mfa", data={"code": right}, follow_redirects=False)
    assert r.status_code == 303
    assert env.use(token).get("/api/cameras").status_code == 200


def test_a_wrong_code_at_enrolment_keeps_the_same_secret(env: Env) -> None:
    r = env.login("operateur")
    client = env.use(r.cookies[COOKIE])
    secret = page_value(client.get("/login/enrol").text, TOTP_SECRET)
    r = client.post("/login/enrol", data={"code": env.wrong_code(secret)},
                    follow_redirects=False)
    assert r.status_code == 401
    assert page_value(r.text, TOTP_SECRET) == secret
    assert env.audit("mfa_failed") and not env.audit("mfa_enrolled")
    assert not env.c.accounts.get("operateur").totp_enrolled


def test_a_replayed_code_is_refused(env: Env) -> None:
    secret = env.enrol("operateur")
    code = env.code(secret)
    token = env.login_with_code("operateur", secret)
    env.use(token).post("/logout", follow_redirects=False)
    # the same code, seconds later, as a shoulder-surfer would type it
    env.clock.advance(5)
    assert env.code(secret) == code
    r = env.login("operateur")
    again = r.cookies[COOKIE]
    r = env.use(again).post("/login/mfa", data={"code": code}, follow_redirects=False)
    assert r.status_code == 401
    assert env.actions()[-1] == "mfa_failed"
    assert env.use(again).get("/api/cameras").status_code == 401
    env.clock.advance(30)
    r = env.use(again).post("/login/mfa", data={"code": env.code(secret)},
                            follow_redirects=False)
    assert r.status_code == 303


@pytest.mark.parametrize("stage", ["enrol", "mfa"])
def test_a_pending_session_opens_nothing_but_the_second_factor(env: Env, stage: str) -> None:
    if stage == "mfa":
        env.enrol("operateur")
    r = env.login("operateur")
    assert r.headers["location"].startswith(f"/login/{stage}")
    token = r.cookies[COOKIE]
    client = env.use(token)
    pending_page = f"/login/{stage}"
    for path in ("/api/cameras", "/api/cameras/1", f"/api/cameras/1/at?t={T0}",
                 f"/api/cameras/1/playback.m3u8?from={T0}&to={T0 + S}", "/api/segments/1/media",
                 "/api/users", "/api/audit", "/openapi.json", "/docs"):
        r = client.get(path, headers={"accept": "application/json"}, follow_redirects=False)
        assert r.status_code == 401, path
        assert r.json()["error"] == "NotAuthenticated"
    for path in ("/live", "/live/1", "/cameras", "/playback/1", "/", "/admin",
                 "/login/mfa" if stage == "enrol" else "/login/enrol"):
        r = client.get(path, headers={"accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"] == pending_page, path
    r = client.post("/api/partners", json={"name": "X"})
    assert r.status_code == 401
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
            "/api/cameras/1/live"):
        pass
    assert refused.value.code == 4401
    assert client.get(pending_page).status_code == 200
    assert env.audit("live", "live_denied", "login") == []
    r = client.post("/logout", follow_redirects=False)
    assert r.status_code == 303
    assert env.c.accounts.session(token) is None


def test_an_account_without_images_needs_no_second_factor(env: Env) -> None:
    r = env.login("auditrice")
    assert r.status_code == 303 and r.headers["location"] == "/audit"
    assert env.use(r.cookies[COOKIE]).get("/api/audit").status_code == 200
    assert json.loads(env.audit("login")[0].detail) == {"second_factor": False}


def test_the_cookie_is_secure_when_configured(sqlite_url: str, make_container: Any) -> None:
    c = make_container(sqlite_url, secure_cookies=True)
    c.accounts.add_user("auditrice", PASSWORDS["auditrice"], "auditor")
    with TestClient(create_app(c, run_background=False)) as client:
        r = client.post("/login", data={"username": "auditrice",
                                        "password": PASSWORDS["auditrice"]},
                        follow_redirects=False)
    attributes = {a.strip().lower() for a in r.headers["set-cookie"].split(";")}
    assert {"secure", "httponly", "samesite=strict"} <= attributes


def _cookie_flags(c: Any) -> set[str]:
    c.accounts.add_user("auditrice", PASSWORDS["auditrice"], "auditor")
    with TestClient(create_app(c, run_background=False)) as client:
        r = client.post("/login", data={"username": "auditrice",
                                        "password": PASSWORDS["auditrice"]},
                        follow_redirects=False)
        assert r.status_code == 303
        token = r.cookies[COOKIE]
        client.cookies.set(COOKIE, token)
        csrf = c.accounts.session(token).csrf_token
        out = client.post("/logout", headers={"x-csrf-token": csrf}, follow_redirects=False)
    assert COOKIE in out.headers["set-cookie"]  # logout clears it with the same flags
    flags = {a.strip().lower() for a in r.headers["set-cookie"].split(";")}
    assert ("secure" in flags) == ("secure" in {
        a.strip().lower() for a in out.headers["set-cookie"].split(";")})
    return flags


def _outside_data_dir(tmp_path: Path) -> dict[str, Path]:
    """Production keeps the audit key and its anchor out of the data directory."""
    return {"audit_key_file": tmp_path / "etc" / "audit.pem",
            "audit_anchor_dir": tmp_path / "ancrage"}


def test_the_cookie_is_secure_in_production_without_being_asked(
        sqlite_url: str, make_container: Any, tmp_path: Path) -> None:
    c = make_container(sqlite_url, mode="production", secret_key="k" * 40,
                       **_outside_data_dir(tmp_path))
    assert {"secure", "httponly", "samesite=strict"} <= _cookie_flags(c)


def test_a_plain_http_lab_opts_out_of_the_secure_cookie_explicitly(
        sqlite_url: str, make_container: Any, tmp_path: Path) -> None:
    c = make_container(sqlite_url, mode="production", secret_key="k" * 40,
                       lab_plain_http=True, **_outside_data_dir(tmp_path))
    assert "secure" not in _cookie_flags(c)


# -- CSRF ----------------------------------------------------------------------------------------

def test_every_state_changing_route_needs_the_session_s_csrf_token(env: Env) -> None:
    """Enumerated from the app: a POST/PUT/PATCH/DELETE route added later without the CSRF
    dependency fails here."""
    admin = env.session_of("admin")
    other_csrf = env.c.accounts.session(env.session_of("operateur")).csrf_token  # type: ignore[union-attr]
    before = env.actions()
    checked = []
    for route in app_routes(env.client.app):
        if route.path == "/login":
            continue  # no session yet: the Origin check guards it (below)
        for method in sorted(route.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            url = route.path.replace("{user_id}", "1").replace("{camera_id}", "1").replace(
                "{grant_id}", "1")
            for header in ({}, {"x-csrf-token": "forged"}, {"x-csrf-token": other_csrf}):
                client = env.fresh()
                client.cookies.set(COOKIE, admin)
                r = client.request(method, url, headers=header, follow_redirects=False)
                assert r.status_code == 403, f"{method} {url} {header}: {r.status_code}"
                assert "CSRF" in r.json()["message"]
            checked.append(f"{method} {route.path}")
    assert {"POST /logout", "POST /api/cameras", "PATCH /api/cameras/{camera_id}",
            "DELETE /api/cameras/{camera_id}", "POST /api/users",
            "PATCH /api/users/{user_id}", "POST /api/users/{user_id}/reset",
            "POST /api/users/{user_id}/grants", "DELETE /api/grants/{grant_id}",
            "POST /api/partners", "POST /api/audit/verify", "POST /login/mfa",
            "POST /login/enrol"} <= set(checked)
    assert env.actions() == before  # nothing was done, nothing was audited
    assert env.c.accounts.session(admin) is not None  # not even a logout


def test_a_cross_site_login_form_is_refused(env: Env) -> None:
    """Login CSRF: another site must not log a browser into an account of its choosing."""
    data = {"username": "auditrice", "password": PASSWORDS["auditrice"]}
    for origin in ("http://evil.example", "null", "http://testserver.evil.example"):
        r = env.fresh().post("/login", data=data, headers={"origin": origin},
                             follow_redirects=False)
        assert r.status_code == 403, origin
        assert COOKIE not in r.headers.get("set-cookie", "")
    assert env.audit("login", "login_failed") == []
    r = env.fresh().post("/login", data=data, headers={"origin": "http://testserver"},
                         follow_redirects=False)
    assert r.status_code == 303


def test_api_calls_with_the_right_csrf_token_work(env: Env) -> None:
    admin = env.session_of("admin")
    client = env.fresh()
    client.cookies.set(COOKIE, admin)
    csrf = env.c.accounts.session(admin).csrf_token  # type: ignore[union-attr]
    grant = env.c.grants.list("operateur")[0]
    calls = [("POST", "/api/partners", {"name": "Habitat 77"}, 201),
             ("PATCH", "/api/cameras/1", {"retention_days": 7}, 200),
             ("DELETE", f"/api/grants/{grant.id}", None, 200)]
    for method, url, body, ok in calls:
        for header in ({}, {"x-csrf-token": csrf[:-1] + "x"}, {"x-csrf-token": ""}):
            r = client.request(method, url, json=body, headers=header)
            assert r.status_code == 403, (method, url, header)
        r = client.request(method, url, json=body, headers={"x-csrf-token": csrf})
        assert r.status_code == ok, (method, url, r.text[:300])
    assert env.c.registry.get(1).retention_days == 7
    assert [p["name"] for p in env.c.registry.list_partners()] == ["Habitat 77"]
    assert env.c.grants.list("operateur", include_revoked=True)[0].revoked_by == "admin"
    assert env.actions()[-1] == "grant_revoke"


def test_the_logout_form_needs_its_csrf_token(env: Env) -> None:
    token = env.session_of("operateur")
    client = env.fresh()
    client.cookies.set(COOKIE, token)
    page = client.get("/live", headers={"accept": "text/html"})
    assert page.status_code == 200
    csrf = page_value(page.text, CSRF_FIELD)
    assert page_value(page.text, r'<meta name="csrf-token" content="([^"]+)"') == csrf
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
        r = client.post("/logout", data=data, follow_redirects=False)
        assert r.status_code == 403, data
    assert env.c.accounts.session(token) is not None
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert env.c.accounts.session(token) is None
    assert env.actions()[-1] == "logout"


# -- expiry, disabled accounts, resets ----------------------------------------------------------

def test_a_session_expires_when_idle(env: Env) -> None:
    token = env.session_of("operateur")
    client = env.use(token)
    for _ in range(3):  # activity keeps it alive
        env.clock.advance(IDLE_S - 1)
        assert client.get("/api/cameras").status_code == 200
    env.clock.advance(IDLE_S + 1)
    assert client.get("/api/cameras").status_code == 401
    r = client.get("/live", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/live"
    with env.c.sessions() as db:
        assert db.scalar(select(WebSession.token_sha256)) is None


def test_a_session_expires_after_the_absolute_limit_despite_activity(env: Env) -> None:
    token = env.session_of("operateur")
    client = env.use(token)
    for _ in range(ABSOLUTE_S // 50):
        env.clock.advance(50)
        assert client.get("/api/cameras").status_code == 200
    env.clock.advance(1)
    assert client.get("/api/cameras").status_code == 401
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
            "/api/cameras/1/live"):
        pass
    assert refused.value.code == 4401


def test_a_disabled_account_s_session_stops_at_once(env: Env) -> None:
    operator = env.session_of("operateur")
    assert env.use(operator).get("/api/cameras").status_code == 200
    admin = env.use(env.session_of("admin"))
    uid = env.users["operateur"].user_id
    r = admin.patch(f"/api/users/{uid}", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert env.use(operator).get("/api/cameras").status_code == 401
    r = env.login("operateur")
    assert r.status_code == 401 and "désactivé" in r.text
    assert env.actions()[-1] == "login_disabled"
    [change] = env.audit("user_update")
    detail = json.loads(change.detail)
    assert (detail["before"]["enabled"], detail["after"]["enabled"]) == (True, False)
    assert change.username == "admin"


def test_a_password_reset_ends_sessions_and_resets_the_second_factor(env: Env) -> None:
    old_secret = env.enrol("operateur")
    token = env.login_with_code("operateur", old_secret)
    assert env.use(token).get("/api/cameras").status_code == 200
    uid = env.users["operateur"].user_id
    r = env.use(env.session_of("admin")).post(f"/api/users/{uid}/reset")
    assert r.status_code == 200
    new_password = r.json()["password"]
    assert len(new_password) >= 12 and r.json()["username"] == "operateur"
    assert env.use(token).get("/api/cameras").status_code == 401
    assert env.login("operateur").status_code == 401  # the old password
    r = env.login("operateur", new_password)
    assert r.status_code == 303 and r.headers["location"].startswith("/login/enrol")
    page = env.use(r.cookies[COOKIE]).get("/login/enrol")
    assert page_value(page.text, TOTP_SECRET) != old_secret
    [reset] = env.audit("user_reset")
    assert json.loads(reset.detail) == {"user": "operateur", "password": "[redacted]",
                                        "second_factor": "reset"}
    assert all(new_password not in e.detail for e in env.audit())
