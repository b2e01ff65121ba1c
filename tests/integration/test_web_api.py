"""The web layer on a real app (`create_app`) over a real SQLite database, driven by Starlette's
TestClient: every route is protected; media routes give 401/403 and not one byte of media to an
anonymous caller, a landlord or an operator without the grant, and only the granted camera's
media to an operator granted on one camera; login and logout, the camera API's errors,
cross-site refusal, clips and timelines.

Routes are enumerated from the app itself, so a route added later is covered without editing
this file. Sessions are opened directly (`stage="full"`); the second factor and CSRF have their
own tests in `test_auth.py`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from guetteur.adapters.db.models import AuditEvent, ExportJob, JudicialCase, WebSession
from guetteur.bootstrap import Container
from guetteur.domain.cameras import CameraSpec
from guetteur.domain.clock import FakeClock
from guetteur.domain.permissions import Principal
from guetteur.domain.timeutil import iso_utc
from guetteur.services.live import LiveHub
from guetteur.services.plate_search import ReadRow, passage_from_reads
from guetteur.services.segment_index import GapRow, SegmentRow
from guetteur.web.app import create_app
from guetteur.web.routes_media import MEDIA_ROUTES
from guetteur.web.session import COOKIE
from support import TOTP_SECRET, app_routes, make_fmp4, page_value, totp_code
from support import looks_like_video as carries_video

T0 = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z
S = 1_000_000
ADMIN_PW = "Adm1n-l0ng-password"
LANDLORD_PW = "Ba1lleur-l0ng-password"
OPERATOR_PW = "Op3rateur-l0ng-password"
AUDITOR_PW = "Aud1teur-l0ng-password"
PARTNER = "Habitat 77"
CAM_PW = "Cam3ra-S3cret!"
PUBLIC = ("/login", "/healthz", "/metrics")  # /metrics: by address or token (test_metrics)
MEDIA_WORDS = ("media", "clip", "live", "playback", ".m3u8", "segment", "/at", "export",
               "snapshot", "image", "frame", ".mp4")
# every media route gets a valid range, so it is refused for the right reason
MEDIA_QUERY = f"?from={T0}&to={T0 + 4 * S}&t={T0 + S}&stream=main"


def fill(path: str, default: object = 1, **values: object) -> str:
    """The path with its parameters set (`values` by name, `default` otherwise)."""
    return re.sub(r"\{([^}]+)\}", lambda m: str(values.get(m.group(1), default)), path)


def is_public(path: str) -> bool:
    return path in PUBLIC or path == "/static" or path.startswith("/static/")


def looks_like_video(response: Any) -> bool:
    return carries_video(response.headers.get("content-type", ""), response.content)


@pytest.fixture(scope="module")
def fmp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fmp4(tmp_path_factory.mktemp("media") / "sample.mp4").read_bytes()


@dataclass
class Env:
    c: Container
    client: TestClient
    clock: FakeClock
    admin_token: str
    landlord_token: str
    operator_token: str
    users: dict[str, Principal]

    def use(self, token: str | None) -> TestClient:
        """Make the client send this session's cookie and CSRF token (or neither)."""
        self.client.cookies.clear()
        self.client.headers.pop("x-csrf-token", None)
        if token:
            self.client.cookies.set(COOKIE, token)
            info = self.c.accounts.session(token)
            if info is not None:
                self.client.headers["x-csrf-token"] = info.csrf_token
        return self.client

    def audit(self, action: str | None = None) -> list[AuditEvent]:
        with self.c.sessions() as db:
            query = select(AuditEvent).order_by(AuditEvent.id)
            if action:
                query = query.where(AuditEvent.action == action)
            return list(db.scalars(query))


@pytest.fixture
def env(sqlite_url: str, make_container: Any) -> Iterator[Env]:
    """An administrator granted live, playback and export everywhere; a landlord of PARTNER;
    an operator without any grant. Live views work without recording (they get a status)."""
    clock = FakeClock(T0 + 3600 * S)
    c = make_container(sqlite_url, clock=clock)
    c.live = LiveHub(c.current_path)
    c.registry.add_partner(PARTNER)
    users = {"admin": c.accounts.add_user("admin", ADMIN_PW, "admin"),
             "landlord": c.accounts.add_user("bailleur", LANDLORD_PW, "landlord",
                                             partner=PARTNER),
             "operator": c.accounts.add_user("operateur", OPERATOR_PW, "operator")}
    for action in ("live", "playback", "export"):
        c.grants.add("admin", action, actor="test")
    app = create_app(c, run_background=False)
    with TestClient(app) as client:
        yield Env(c, client, clock, *(c.accounts.open_session(users[k], "testclient")
                                      for k in ("admin", "landlord", "operator")), users)


def add_camera(env: Env, **body: Any) -> Any:
    payload = {"name": "Place de la Mairie", "main_url": "rtsp://192.0.2.10:554/stream1"}
    payload.update(body)
    return env.use(env.admin_token).post("/api/cameras", json=payload)


def put_segment(env: Env, cam_id: int, seq: int, start_us: int, end_us: int,
                content: bytes) -> None:
    store = env.c.store
    path = store.stream_dir(cam_id, "main") / f"20261125T180000000Z_{seq:06d}.mp4"
    path.write_bytes(content)
    key = store.key_of(path)
    size, digest = store.finalize(key)
    env.c.index.insert([SegmentRow(cam_id, "main", key, start_us, end_us, size, digest,
                                   "avc1.64000d", 777)], [])


def finished_export(env: Env, cam_id: int, content: bytes) -> None:
    """Export 1: a finished package of camera `cam_id` (its file holds video bytes)."""
    with env.c.sessions.begin() as db:
        db.add(JudicialCase(id=1, reference="PV 1", service="BSU", officer="Lt A",
                            requisition_date=date(2026, 11, 25), legal_basis="art. 60-1 CPP",
                            created_by="someone", created_utc_us=T0))
        db.flush()
        db.add(ExportJob(id=1, case_id=1, camera_ids=f"[{cam_id}]", start_utc_us=T0,
                         end_utc_us=T0 + 2 * S, requested_by="someone", requested_utc_us=T0,
                         state="done", bytes_total=1, bytes_done=1, cancel_requested=False,
                         package_name="p.zip", package_size=len(content)))
    env.c.exports.dir.mkdir(parents=True, exist_ok=True)
    (env.c.exports.dir / "p.zip").write_bytes(content)


def plate_passage(env: Env, cam_id: int, content: bytes) -> None:
    """Passage 1: a plate read on camera `cam_id`, with its crop (pixels) on disk."""
    env.c.plates.search_index.insert_passages([passage_from_reads(
        cam_id, [ReadRow(T0, "GH-417-KT", 0.9)], crop_key="cam/1.jpg")])
    env.c.plates.crops_dir.joinpath("cam").mkdir(parents=True, exist_ok=True)
    env.c.plates.crops_dir.joinpath("cam/1.jpg").write_bytes(content)


# -- every route is protected -----------------------------------------------------------------

def test_the_app_has_the_routes_this_file_relies_on(env: Env) -> None:
    paths = {r.path for r in app_routes(env.client.app)}
    assert {"/login", "/healthz", "/api/cameras", "/api/cameras/{camera_id}/live"} <= paths
    assert len(paths) > 15


def test_every_route_refuses_a_request_without_session(env: Env) -> None:
    client = env.use(None)
    checked = 0
    for route in app_routes(client.app):
        if is_public(route.path):
            continue
        url = fill(route.path)
        if route.websocket:
            with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(url):
                pass
            assert refused.value.code == 4401, url
            checked += 1
            continue
        for method in sorted(route.methods):
            for accept in ("text/html,application/xhtml+xml", "application/json"):
                r = client.request(method, url, headers={"accept": accept},
                                   follow_redirects=False)
                wants_page = (method == "GET" and not url.startswith("/api/")
                              and accept.startswith("text/html"))
                if wants_page:
                    assert r.status_code == 303, f"{method} {url}: {r.status_code}"
                    assert r.headers["location"].startswith("/login?next="), url
                else:
                    assert r.status_code == 401, f"{method} {url} ({accept}): {r.status_code}"
                    if method != "HEAD":
                        assert r.json()["error"] == "NotAuthenticated"
                assert not looks_like_video(r)
                checked += 1
    assert checked > 20
    assert env.audit("login") == []


def test_a_redirect_to_login_keeps_the_asked_page(env: Env) -> None:
    r = env.use(None).get("/playback/1?day=2026-11-25", headers={"accept": "text/html"},
                          follow_redirects=False)
    assert r.headers["location"] == "/login?next=/playback/1%3Fday%3D2026-11-25"


def test_a_forged_or_expired_cookie_is_no_session(env: Env) -> None:
    assert env.use("forged").get("/api/cameras").status_code == 401
    assert env.use(env.admin_token).get("/api/cameras").status_code == 200
    env.clock.advance(env.c.settings.session_idle_s + 1)
    assert env.use(env.admin_token).get("/api/cameras").status_code == 401


def test_public_routes_answer_without_session(env: Env) -> None:
    client = env.use(None)
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/login").status_code == 200
    r = client.get("/static/js/common.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    # the public prefix opens no way out of the static folder
    assert client.get("/static/..%2F..%2Fsettings.py").status_code == 404


# -- media routes: registered, and refused to a landlord -------------------------------------

# Export *jobs* are JSON about a job (state, progress): no pixel. Their package is the media
# route `/api/exports/{job_id}/download`. Creating a job asks the gate in the service.
EXPORT_JOB_ROUTES = {"/api/cases/{case_id}/exports", "/api/exports/{job_id}",
                     "/api/exports/{job_id}/cancel", "/api/exports/{job_id}/approve"}


def test_every_media_like_api_route_is_registered_as_media(env: Env) -> None:
    routes = app_routes(env.client.app)
    paths = {r.path for r in routes}
    assert paths >= MEDIA_ROUTES, f"stale MEDIA_ROUTES: {MEDIA_ROUTES - paths}"
    assert paths >= EXPORT_JOB_ROUTES
    for route in routes:
        if not any(word in route.path for word in MEDIA_WORDS):
            continue
        if route.path in EXPORT_JOB_ROUTES:
            assert route.methods <= {"GET", "POST"}
            continue
        if route.path.startswith("/api/"):
            assert route.path in MEDIA_ROUTES, (
                f"{route.path} looks like a media route: register it with media_route() "
                "and gate it with AccessGate.authorize_media")
        else:
            # pages named live/playback only render HTML; their pixels come from the API
            assert route.endpoint_module == "guetteur.web.routes_pages", route.path


def test_media_routes_and_gated_routes_are_the_same_set(env: Env) -> None:
    """A handler that asks the pixel gate is a media route, and every media route asks it
    (whatever its path is called)."""
    for route in app_routes(env.client.app):
        gated = "authorize_media" in route.endpoint_source
        assert gated == (route.path in MEDIA_ROUTES), (
            f"{route.path}: gated={gated}, registered={route.path in MEDIA_ROUTES}")


CALLERS = ["anonymous", "landlord", "operator"]  # the operator has no grant
# Range forms that once slipped past a prefix test (`bytes=0-`) unaudited
ODD_RANGES = ["bytes=00-", "bytes= 0-", "bytes=-100000000", "bytes=1-", "bytes=0-0,-1",
              "BYTES=0-", "bytes=junk"]


def token_of(env: Env, caller: str) -> str | None:
    return {"anonymous": None, "landlord": env.landlord_token,
            "operator": env.operator_token}[caller]


@pytest.mark.parametrize("caller", CALLERS, ids=["anonymous", "landlord", "ungranted-operator"])
def test_no_media_route_gives_a_byte_to_a_caller_without_the_right(env: Env, fmp4: bytes,
                                                                   caller: str) -> None:
    # the landlord's own partner's camera: a landlord sees its health, never its pixels
    assert add_camera(env, owner=PARTNER).status_code == 201
    put_segment(env, 1, 1, T0, T0 + 2 * S, fmp4)
    finished_export(env, 1, fmp4)
    plate_passage(env, 1, fmp4)
    admin = env.use(env.admin_token)
    # the same requests work for a granted admin: the refusals below are about rights only
    r = admin.get("/api/segments/1/media")
    assert r.status_code == 200 and r.content == fmp4
    assert admin.get(f"/api/cameras/1/at?t={T0 + S}").json()["segment_id"] == 1
    before = len(env.audit())

    anonymous = caller == "anonymous"
    status, ws_code = (401, 4401) if anonymous else (403, 4403)
    client = env.use(token_of(env, caller))
    media = [r for r in app_routes(client.app) if r.path in MEDIA_ROUTES]
    assert {r.path for r in media} == MEDIA_ROUTES
    for route in media:
        url = fill(route.path) + MEDIA_QUERY
        if route.websocket:
            with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(url):
                pass
            assert refused.value.code == ws_code, url
            continue
        for method in route.methods:
            for headers in ({}, {"range": "bytes=100-"}, {"accept": "text/html"},
                            *({"range": r} for r in ODD_RANGES),
                            {"range": "bytes=0-", "if-range": '"x"'}):
                r = client.request(method, url, headers=headers, follow_redirects=False)
                assert r.status_code == status, f"{method} {url}: {r.status_code} {r.text[:200]}"
                assert not looks_like_video(r), url
                assert fmp4[:64] not in r.content
                if method != "HEAD":
                    assert r.json()["error"] == ("NotAuthenticated" if anonymous
                                                 else "Forbidden")
    events = env.audit()[before:]
    if anonymous:
        assert events == []
        return
    who = env.users[caller]
    assert all(e.user_id == who.user_id for e in events)
    denied = [e.action for e in events]
    assert denied and all(a.endswith("_denied") for a in denied), denied
    assert {"live_denied", "playback_denied", "export_denied"} <= set(denied)


@pytest.mark.parametrize("caller", ["landlord", "operator"],
                         ids=["landlord", "ungranted-operator"])
def test_no_route_at_all_gives_a_byte_of_media_to_a_caller_without_the_right(
        env: Env, fmp4: bytes, caller: str) -> None:
    assert add_camera(env, owner=PARTNER).status_code == 201
    put_segment(env, 1, 1, T0, T0 + 2 * S, fmp4)
    client = env.use(token_of(env, caller))
    for route in app_routes(client.app):
        if route.websocket or route.path == "/logout" or route.path.startswith("/static"):
            continue
        url = fill(route.path) + MEDIA_QUERY
        for method in route.methods:
            for accept in ("text/html", "application/json"):
                r = client.request(method, url, headers={"accept": accept},
                                   follow_redirects=False)
                assert r.status_code < 500, f"{method} {url}: {r.status_code}"
                assert not looks_like_video(r), f"{method} {url}"
                assert fmp4[:64] not in r.content
    assert env.use(token_of(env, caller)).get("/api/cameras").status_code == 200  # still in


def test_an_operator_granted_on_one_camera_gets_its_media_and_no_other(
        env: Env, fmp4: bytes) -> None:
    assert add_camera(env).status_code == 201
    assert add_camera(env, name="Gare", main_url="rtsp://192.0.2.11/s").status_code == 201
    put_segment(env, 1, 1, T0, T0 + 2 * S, fmp4)  # segment 1, camera 1
    put_segment(env, 2, 1, T0, T0 + 2 * S, fmp4)  # segment 2, camera 2
    finished_export(env, 1, fmp4)  # export 1: camera 1, which the operator may play back
    plate_passage(env, 2, fmp4)  # passage 1: camera 2, which the operator may not
    for action in ("live", "playback"):
        env.c.grants.add("operateur", action, "cameras", "1")
    operator = env.users["operator"]
    client = env.use(env.operator_token)
    granted: dict[str, Any] = {  # what camera 1 gives (an operator is never granted export)
        "/api/cameras/{camera_id}/playback.m3u8":
            lambda r: r.status_code == 200 and r.text.startswith("#EXTM3U")
            and "/api/segments/1/media" in r.text,
        "/api/segments/{segment_id}/media": lambda r: r.status_code == 200 and r.content == fmp4,
        "/api/cameras/{camera_id}/at": lambda r: r.status_code == 200
            and r.json()["segment_id"] == 1,
        "/api/cameras/{camera_id}/clip.mp4": lambda r: r.status_code == 403,
        "/api/exports/{job_id}/download": lambda r: r.status_code == 403,
        "/api/plates/passages/{passage_id}/crop.jpg": lambda r: r.status_code == 403,
        "/api/cameras/{camera_id}/live": None,
        # a file being written: none here (no recorder runs), and "1" is no file name
        "/api/cameras/{camera_id}/recording/{file_name}": lambda r: r.status_code == 422,
    }
    assert set(granted) == MEDIA_ROUTES, "a new media route: say what camera 1 gives here"
    for route in app_routes(client.app):
        if route.path not in MEDIA_ROUTES:
            continue
        other = fill(route.path, camera_id=2, segment_id=2) + MEDIA_QUERY
        mine = fill(route.path, camera_id=1, segment_id=1) + MEDIA_QUERY
        if route.websocket:
            with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(other):
                pass
            assert refused.value.code == 4403
            with client.websocket_connect(mine) as ws:
                assert ws.receive_json() == {"type": "status", "state": "reconnecting"}
            continue
        for headers in ({}, {"range": "bytes=100-"}):
            r = client.get(other, headers=headers)
            assert r.status_code == 403, f"{other}: {r.status_code}"
            assert not looks_like_video(r) and fmp4[:64] not in r.content
        r = client.get(mine)
        assert granted[route.path](r), f"{mine}: {r.status_code} {r.text[:200]}"
        if r.status_code == 403:
            assert not looks_like_video(r)

    events = [(e.action, e.camera_id) for e in env.audit() if e.user_id == operator.user_id]
    assert ("live", 1) in events and ("live_end", 1) in events
    assert ("live_denied", 2) in events and ("playback_denied", 2) in events
    assert ("playback", 1) in events and ("export_denied", 1) in events
    assert not [e for e in events if e[1] == 2 and not e[0].endswith("_denied")]
    listed = {c["id"]: c["can"] for c in client.get("/api/cameras").json()}
    assert listed == {1: ["live", "playback"]}  # health of the cameras it may view only


# -- a live view already open loses its right the moment it ends ----------------------------

def end_by_grant_expiry(env: Env, valid_until: int) -> None:
    env.clock.set(valid_until)


def end_by_revocation(env: Env, _valid_until: int) -> None:
    [grant] = env.c.grants.list("operateur")
    env.c.grants.revoke(grant.id, actor="admin")


def end_by_habilitation(env: Env, _valid_until: int) -> None:
    env.c.accounts.update("operateur", habilitation_until_utc_us=env.clock.now_us())


def end_by_disabling(env: Env, _valid_until: int) -> None:
    env.c.accounts.update("operateur", enabled=False)


@pytest.mark.parametrize("end", [end_by_grant_expiry, end_by_revocation, end_by_habilitation,
                                 end_by_disabling],
                         ids=["grant-expiry", "revocation", "habilitation", "disabled"])
def test_an_open_live_view_is_closed_with_4403_when_the_right_ends(
        env: Env, monkeypatch: pytest.MonkeyPatch, end: Any) -> None:
    from guetteur.web import routes_media

    monkeypatch.setattr(routes_media, "RECHECK_S", 0.5)
    assert add_camera(env).status_code == 201
    opened_at = env.clock.now_us()
    valid_until = opened_at + 2 * S
    env.c.grants.add("operateur", "live", "cameras", "1", valid_until_utc_us=valid_until)
    client = env.use(env.operator_token)
    with client.websocket_connect("/api/cameras/1/live") as ws:
        assert ws.receive_json() == {"type": "status", "state": "reconnecting"}
        env.clock.advance(1)
        time.sleep(1.2)  # two re-checks while the right holds: the view stays open
        assert env.audit("live_end") == []
        end(env, valid_until)
        assert ws.receive_json() == {"type": "status", "state": "forbidden"}
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403
    [opened] = env.audit("live")
    [ended] = env.audit("live_end")
    assert (opened.user_id, opened.camera_id, opened.range_from_utc_us) == (
        env.users["operator"].user_id, 1, opened_at)
    assert json.loads(ended.detail) == {"opened_by_event": opened.id}
    assert ended.camera_id == 1 and ended.range_to_utc_us == env.clock.now_us()
    assert env.c.live is not None and env.c.live.viewers() == {}


def test_a_landlord_cannot_change_cameras(env: Env) -> None:
    assert add_camera(env).status_code == 201
    client = env.use(env.landlord_token)
    body = {"name": "Intrus", "main_url": "rtsp://192.0.2.66/s"}
    assert client.post("/api/cameras", json=body).status_code == 403
    assert client.patch("/api/cameras/1", json={"retention_days": 1}).status_code == 403
    assert client.delete("/api/cameras/1").status_code == 403
    assert client.post("/api/partners", json={"name": "X"}).status_code == 403
    assert client.get("/api/partners").status_code == 403
    cams = env.use(env.admin_token).get("/api/cameras").json()
    assert [(c["name"], c["retention_days"]) for c in cams] == [("Place de la Mairie", 30)]


# -- login and logout -------------------------------------------------------------------------

def test_a_wrong_password_is_401_and_audited(env: Env) -> None:
    client = env.use(None)
    r = client.post("/login", data={"username": "admin", "password": "wrong-password!",
                                    "next": "/live"}, follow_redirects=False)
    assert r.status_code == 401
    assert "Identifiant ou mot de passe incorrect" in r.text
    assert COOKIE not in r.headers.get("set-cookie", "")
    [event] = env.audit("login_failed")
    assert event.username == "admin" and event.user_id is None
    assert "wrong-password" not in event.detail
    r = client.post("/login", data={"username": "nobody", "password": ADMIN_PW})
    assert r.status_code == 401
    assert [e.username for e in env.audit("login_failed")] == ["admin", "nobody"]


def test_login_sets_a_strict_http_only_cookie_and_logout_kills_the_session(env: Env) -> None:
    client = env.use(None)
    r = client.post("/login", data={"username": "admin", "password": ADMIN_PW,
                                    "next": "/cameras"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login/enrol?next=/cameras"  # second factor first
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    attributes = {a.strip().lower() for a in cookie.split(";")}
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/" in attributes
    token = cookie.split(";")[0].split("=", 1)[1]
    assert env.audit("login") == []

    client = env.use(token)
    secret = page_value(client.get("/login/enrol?next=/cameras").text, TOTP_SECRET)
    r = client.post("/login/enrol", data={"code": totp_code(secret, env.clock.now_us()),
                                          "next": "/cameras"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/cameras"
    [login] = env.audit("login")
    assert login.username == "admin"
    assert json.loads(login.detail) == {"second_factor": True}

    client = env.use(token)  # the session's CSRF token changed with the second factor
    assert client.get("/api/cameras").status_code == 200
    r = client.post("/logout", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert f'{COOKIE}=""' in r.headers["set-cookie"] or "max-age=0" in (
        r.headers["set-cookie"].lower())
    assert env.use(token).get("/api/cameras").status_code == 401  # even with the old cookie
    with env.c.sessions() as db:
        remaining = db.scalars(select(WebSession.token_sha256)).all()
    assert len(remaining) == 3  # the fixture's three sessions, not this one
    assert [e.username for e in env.audit("logout")] == ["admin"]


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil",
                                    "javascript:alert(1)"])
def test_login_never_redirects_off_site(env: Env, target: str) -> None:
    env.c.accounts.add_user("auditrice", AUDITOR_PW, "auditor")  # no second factor
    r = env.use(None).post("/login", data={"username": "auditrice", "password": AUDITOR_PW,
                                           "next": target}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/audit"
    # with a second factor, neither step leads off site
    r = env.use(None).post("/login", data={"username": "admin", "password": ADMIN_PW,
                                           "next": target}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login/enrol?next=/"
    client = env.use(r.cookies[COOKIE])
    secret, _ = env.c.accounts.begin_enrolment(env.users["admin"].user_id)
    r = client.post("/login/enrol", data={"code": totp_code(secret, env.clock.now_us()),
                                          "next": target}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/cameras"


# -- camera API -------------------------------------------------------------------------------

def test_camera_api_errors_are_french_with_status_and_field(env: Env) -> None:
    r = add_camera(env, retention_days=31)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "InvalidInput" and body["field"] == "retention_days"
    assert "30 jours" in body["message"]

    r = add_camera(env, main_url="http://192.0.2.10/stream")
    assert (r.status_code, r.json()["field"]) == (422, "main_url")
    assert "rtsp://" in r.json()["message"]
    r = add_camera(env, main_url="rtsp://")
    assert (r.status_code, r.json()["field"]) == (422, "main_url")

    r = add_camera(env, owner="Bailleur Inconnu")
    assert (r.status_code, r.json()["field"]) == (422, "owner")
    assert "Bailleur Inconnu" in r.json()["message"]

    assert add_camera(env).status_code == 201
    r = add_camera(env, main_url="rtsp://192.0.2.11/other")
    assert r.status_code == 409 and r.json()["error"] == "Conflict"
    assert len(env.use(env.admin_token).get("/api/cameras").json()) == 1


def test_the_camera_password_never_appears_in_a_response(env: Env) -> None:
    responses = [
        add_camera(env, username="admin", password=CAM_PW),
        add_camera(env, name="Gare", main_url=f"rtsp://op:{CAM_PW}@192.0.2.12:554/s"),
        add_camera(env, name="Parc", main_url=f"rtsp://op:{CAM_PW}@192.0.2.13:99999/s"),
        add_camera(env, name="Port", main_url=f"rtsp://op:{CAM_PW}@192.0.2.14/s",
                   retention_days=31),
    ]
    assert [r.status_code for r in responses] == [201, 201, 422, 422]
    created = responses[0].json()
    assert created["has_credentials"] is True
    assert "password" not in created and "credentials" not in created
    gare = responses[1].json()
    assert gare["main_url"] == "rtsp://192.0.2.12:554/s" and gare["has_credentials"]
    client = env.use(env.admin_token)
    responses += [
        client.get("/api/cameras"),
        client.get("/api/cameras/1"),
        client.patch("/api/cameras/1", json={"username": "admin", "password": CAM_PW + "2"}),
        client.patch("/api/cameras/2", json={"main_url": f"rtsp://x:{CAM_PW}@192.0.2.12:0/"}),
        client.get("/live/1", headers={"accept": "text/html"}),
        client.get("/playback/2", headers={"accept": "text/html"}),
    ]
    for r in responses:
        assert CAM_PW not in r.text, f"{r.request.method} {r.request.url}: {r.text[:300]}"
    for event in env.audit():
        assert CAM_PW not in event.detail


def test_patch_and_delete_a_camera(env: Env) -> None:
    assert add_camera(env, username="admin", password=CAM_PW).status_code == 201
    client = env.use(env.admin_token)
    r = client.patch("/api/cameras/1", json={"retention_days": 7, "site": "Nord"})
    assert r.status_code == 200
    cam = r.json()
    assert (cam["retention_days"], cam["site"], cam["config_version"]) == (7, "Nord", 2)
    assert cam["has_credentials"] is True  # untouched credentials are kept

    r = client.patch("/api/cameras/1", json={"retention_days": 31})
    assert r.status_code == 422 and r.json()["field"] == "retention_days"
    r = client.patch("/api/cameras/1", json={"username": ""})
    assert r.status_code == 200 and r.json()["has_credentials"] is False
    assert r.json()["config_version"] == 3
    assert client.patch("/api/cameras/1", json={"colour": "red"}).status_code == 422
    assert client.patch("/api/cameras/99", json={"site": "x"}).status_code == 404

    assert client.delete("/api/cameras/1").status_code == 204
    assert client.get("/api/cameras/1").status_code == 404
    assert client.delete("/api/cameras/1").status_code == 404
    assert [e.action for e in env.audit() if e.action.startswith("camera_")] == [
        "camera_add", "camera_update", "camera_update", "camera_remove"]


def test_a_camera_with_footage_cannot_be_deleted(env: Env) -> None:
    assert add_camera(env).status_code == 201
    put_segment(env, 1, 1, T0, T0 + 2 * S, b"\0" * 100)
    r = env.use(env.admin_token).delete("/api/cameras/1")
    assert r.status_code == 409 and "désactivez-la" in r.json()["message"]


def test_a_cross_site_request_is_refused(env: Env) -> None:
    client = env.use(env.admin_token)
    body = {"name": "Cam CSRF", "main_url": "rtsp://192.0.2.10/s"}
    for origin in ("http://evil.example", "null", "http://testserver.evil.example"):
        r = client.post("/api/cameras", json=body, headers={"origin": origin})
        assert r.status_code == 403, origin
        assert r.json()["error"] == "Forbidden"
    assert client.post("/logout", headers={"origin": "http://evil.example"},
                       follow_redirects=False).status_code == 403
    assert client.get("/api/cameras").json() == []
    r = client.post("/api/cameras", json=body, headers={"origin": "http://testserver"})
    assert r.status_code == 201
    assert client.delete("/api/cameras/1",
                         headers={"origin": "http://evil.example"}).status_code == 403
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
            "/api/cameras/1/live", headers={"origin": "http://evil.example"}):
        pass
    assert refused.value.code == 4403
    assert env.audit("live") == []


# -- clips and timelines ----------------------------------------------------------------------

def test_clip_range_errors(env: Env) -> None:
    assert add_camera(env).status_code == 201
    client = env.use(env.admin_token)
    r = client.get(f"/api/cameras/1/clip.mp4?from={T0 + 60 * S}&to={T0}")
    assert r.status_code == 422 and r.json()["field"] == "to"
    r = client.get(f"/api/cameras/1/clip.mp4?from={T0}&to={T0}")
    assert r.status_code == 422
    too_long = T0 + (env.c.settings.max_clip_s + 1) * S
    assert client.get(f"/api/cameras/1/clip.mp4?from={T0}&to={too_long}").status_code == 422
    r = client.get("/api/cameras/1/clip.mp4?from=hier&to=demain")
    assert r.status_code == 422 and r.json()["field"] == "from"
    r = client.get(f"/api/cameras/1/clip.mp4?from={T0}&to={T0 + 60 * S}")
    assert r.status_code == 404 and r.json()["error"] == "NoFootage"
    r = client.get(f"/api/cameras/9/clip.mp4?from={T0}&to={T0 + 60 * S}")
    assert r.status_code == 404 and r.json()["error"] == "NotFound"
    r = client.get(f"/api/cameras/1/at?t={T0}")
    assert r.status_code == 404 and r.json()["error"] == "NoFootage"


def test_timeline_json_shape(env: Env) -> None:
    assert add_camera(env).status_code == 201
    for seq, (start, end) in enumerate([(0, 4), (4, 8), (12, 16)], start=1):
        put_segment(env, 1, seq, T0 + start * S, T0 + end * S, b"\0" * 10)
    env.c.index.insert([], [GapRow(1, "main", T0 + 8 * S, T0 + 12 * S, "camera_offline")])
    client = env.use(env.admin_token)
    now = env.clock.now_us()

    r = client.get(f"/api/cameras/1/timeline?from={T0 - 2 * S}&to={T0 + 20 * S}")
    assert r.status_code == 200
    assert r.json() == {
        "camera_id": 1, "from_utc_us": T0 - 2 * S, "to_utc_us": T0 + 20 * S, "now_utc_us": now,
        "spans": [{"start_utc_us": T0, "end_utc_us": T0 + 8 * S},
                  {"start_utc_us": T0 + 12 * S, "end_utc_us": T0 + 16 * S}],
        "gaps": [{"start_utc_us": T0 - 2 * S, "end_utc_us": T0, "reason": "unknown"},
                 {"start_utc_us": T0 + 8 * S, "end_utc_us": T0 + 12 * S,
                  "reason": "camera_offline"},
                 {"start_utc_us": T0 + 16 * S, "end_utc_us": T0 + 20 * S,
                  "reason": "unknown"}],
        "holds": []}

    # ISO times are accepted (Z = UTC; no offset = Paris, UTC+1 in November)
    iso = client.get(f"/api/cameras/1/timeline?from={iso_utc(T0)}&to=2026-11-25T21:30:08")
    assert (iso.json()["from_utc_us"], iso.json()["to_utc_us"]) == (T0, T0 + 8 * S)
    assert iso.json()["gaps"] == []

    default = client.get("/api/cameras/1/timeline").json()
    assert (default["from_utc_us"], default["to_utc_us"]) == (now - 86_400 * S, now)
    assert client.get("/api/cameras/9/timeline").status_code == 404
    assert client.get("/api/cameras/1/timeline?from=x").status_code == 422


def test_json_bodies_are_json_and_errors_name_no_internals(env: Env) -> None:
    client = env.use(env.admin_token)
    r = client.get("/api/cameras/9")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert json.loads(r.text)["message"] == "Caméra « 9 » inconnue."


def test_validation_errors_have_the_domain_shape_and_never_echo_the_value(env: Env) -> None:
    secret = "S3cret-not-to-echo" * 20  # too long for the field: refused by the schema
    res = add_camera(env, password=secret)
    assert res.status_code == 422
    body = res.json()
    assert body["error"] == "InvalidInput" and body["field"] == "password"
    assert "S3cret" not in res.text


def test_an_unknown_camera_page_is_an_html_page_in_french(env: Env) -> None:
    res = env.use(env.admin_token).get("/live/999", headers={"accept": "text/html"})
    assert res.status_code == 404
    assert res.headers["content-type"].startswith("text/html")
    assert "Caméra « 999 » inconnue" in res.text
    assert 'href="/live"' in res.text and 'href="/admin"' in res.text  # the way back: its menu


# -- numbers beyond what the database stores ----------------------------------------------------

HUGE = 2**70


def test_numbers_beyond_the_database_s_range_are_invalid_input(any_db_url: str,
                                                               make_container: Any) -> None:
    """Found by the fuzz run: an id or an instant of 2**70 made SQLite raise OverflowError and
    PostgreSQL a DataError, answered 500. They are bad input (422), or refused (403/404)."""
    c = make_container(any_db_url, clock=FakeClock(T0))
    c.live = LiveHub(c.current_path)
    admin = c.accounts.add_user("admin", ADMIN_PW, "admin")
    auditor = c.accounts.add_user("auditrice", AUDITOR_PW, "auditor")
    for action in ("live", "playback", "export"):
        c.grants.add("admin", action)
    with TestClient(create_app(c, run_background=False)) as client:
        for who in (admin, auditor):
            token = c.accounts.open_session(who, "testclient")
            client.cookies.set(COOKIE, token)
            client.headers["x-csrf-token"] = c.accounts.session(token).csrf_token  # type: ignore[union-attr]
            checked = 0
            for route in app_routes(client.app):
                if route.websocket or "{" not in route.path or route.path.startswith("/static"):
                    continue
                url = fill(route.path, default=HUGE) + MEDIA_QUERY
                for method in route.methods - {"HEAD"}:
                    body = {} if method in ("POST", "PATCH", "PUT") else None
                    r = client.request(method, url, json=body, follow_redirects=False)
                    assert r.status_code in (403, 404, 422), f"{method} {url}: {r.status_code}"
                    checked += 1
            assert checked > 10
            for query in (f"/api/cameras/1/at?t={HUGE}", f"/api/cameras/1/at?t=-{HUGE}",
                          f"/api/cameras/1/timeline?from={HUGE}&to={HUGE + 1}",
                          f"/api/cameras/1/playback.m3u8?from={HUGE}&to={HUGE + 1}",
                          f"/api/cameras/1/clip.mp4?from={HUGE}&to={HUGE + 1}",
                          f"/api/audit?from={HUGE}", f"/api/audit?camera_id={HUGE}",
                          f"/api/audit?offset={HUGE}", f"/api/audit.csv?from={HUGE}"):
                r = client.get(query)
                assert r.status_code in (403, 404, 422), f"{who.role} {query}: {r.status_code}"
        r = client.get(f"/api/audit?camera_id={HUGE}")  # the auditor's session
        assert r.status_code == 422 and r.json()["error"] == "InvalidInput"
        c.registry.add(CameraSpec(name="Mairie", main_url="rtsp://192.0.2.10/s"))
        token = c.accounts.open_session(admin, "testclient")
        client.cookies.set(COOKIE, token)
        client.headers["x-csrf-token"] = c.accounts.session(token).csrf_token  # type: ignore[union-attr]
        for t in (HUGE, -HUGE, 10**17, -(10**17)):  # ±2**70, or the years 5138 and -1199
            r = client.get(f"/playback/1?t={t}", headers={"accept": "text/html"})
            assert r.status_code in (200, 422), (t, r.status_code)
            r = client.get(f"/api/cameras/1/timeline?from={t}")
            assert r.status_code in (200, 422), (t, r.status_code)
        r = client.post("/api/users", json={"username": "x", "role": "operator",
                                            "habilitation_until": str(HUGE)})
        assert r.status_code == 422
        assert [u.username for u in c.accounts.list()] == ["admin", "auditrice"]


def test_timeline_shows_holds_to_who_may_see_the_footage(env: Env) -> None:
    assert add_camera(env, owner=PARTNER).status_code == 201
    chief = env.c.accounts.add_user("chef", ADMIN_PW, "supervisor")
    env.c.grants.add("chef", "playback")
    env.c.grants.add("operateur", "playback")
    case = env.c.cases.create(chief, reference="PV 2026/9", service="BSU", officer="Lt B",
                              requisition_date="2026-11-25", legal_basis="art. 60-1 CPP")
    env.c.cases.place_holds(chief, case.id, [1], T0, T0 + 60 * S)
    url = f"/api/cameras/1/timeline?from={T0 - 60 * S}&to={T0 + 120 * S}"

    def holds(token: str) -> list[Any]:
        r = env.use(token).get(url)
        assert r.status_code == 200
        return [(h["start_utc_us"], h["end_utc_us"], h["case_reference"])
                for h in r.json()["holds"]]

    env.c.grants.add("admin", "playback")
    assert holds(env.admin_token) == [(T0, T0 + 60 * S, "PV 2026/9")]
    assert holds(env.operator_token) == [(T0, T0 + 60 * S, None)]  # a hold, not the case
    assert holds(env.landlord_token) == []  # its own camera's health, never the judicial side
