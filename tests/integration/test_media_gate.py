"""One way pixels leave, through the real app (`create_app`, real SQLite, real fMP4 files).

Every response carrying image bytes — segment bytes with any Range form, HEAD, multi-range,
If-Range; playlists; clips; plate crops; export packages; live — takes the full decision
(case reference included) and is covered by an audit event: its own, or the audited playlist
event named by a valid playback token. Events tell the truth: an unknown camera or a missing
file is never written down as a granted view.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from guetteur.adapters.db.models import AuditEvent, ExportJob, JudicialCase
from guetteur.bootstrap import Container
from guetteur.domain.clock import FakeClock
from guetteur.domain.permissions import Principal
from guetteur.services.access import PLAYBACK_TOKEN_S
from guetteur.services.live import LiveHub
from guetteur.services.plate_search import ReadRow, passage_from_reads
from guetteur.services.segment_index import SegmentRow
from guetteur.web.app import create_app
from guetteur.web.routes_media import MEDIA_ROUTES
from guetteur.web.session import COOKIE
from support import app_routes, make_fmp4

T0 = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z
S = 1_000_000
CASE = "PV 2026/00417"
# The forms found to slip past the old prefix test, and the rest of RFC 9110's zoo.
RANGES: list[str | None] = [None, "bytes=0-", "bytes=00-", "bytes= 0-", "bytes=-100000000",
                            "bytes=1-", "bytes=0-99", "BYTES=0-9", "bytes=0-0,-1",
                            "bytes=0-9,20-29", "bytes=junk", "items=0-9", "bytes=9-0"]
VIEWS = ("live", "playback", "export")


@pytest.fixture(scope="module")
def fmp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fmp4(tmp_path_factory.mktemp("media") / "sample.mp4").read_bytes()


@dataclass
class Env:
    c: Container
    client: TestClient
    clock: FakeClock
    users: dict[str, Principal]
    tokens: dict[str, str]
    fmp4: bytes

    def use(self, who: str | None) -> TestClient:
        self.client.cookies.clear()
        if who:
            self.client.cookies.set(COOKIE, self.tokens[who])
        return self.client

    def events(self, after: int = 0) -> list[AuditEvent]:
        with self.c.sessions() as db:
            return list(db.scalars(select(AuditEvent).where(AuditEvent.id > after)
                                   .order_by(AuditEvent.id)))

    def last_id(self) -> int:
        events = self.events()
        return events[-1].id if events else 0


@pytest.fixture
def env(sqlite_url: str, make_container: Any, fmp4: bytes) -> Iterator[Env]:
    """Cameras 1 and 2, one segment each (ids 1 and 2), export 1 of camera 1, plate passages
    1 and 2 of cameras 1 and 2. admin: every view right everywhere; operator: live + playback
    on camera 1; investigator: playback + export everywhere (with a case reference); city:
    an operator granted playback on the city's cameras (by owner)."""
    clock = FakeClock(T0 + 3600 * S)
    c = make_container(sqlite_url, clock=clock)
    c.live = LiveHub(c.current_path)
    from guetteur.domain.cameras import CameraSpec

    for name, url in (("Mairie", "rtsp://192.0.2.10/s"), ("Gare", "rtsp://192.0.2.11/s")):
        c.registry.add(CameraSpec(name=name, main_url=url))
    users = {"admin": c.accounts.add_user("admin", "Adm1n-l0ng-password", "admin"),
             "operator": c.accounts.add_user("operateur", "Op3rateur-l0ng-password",
                                             "operator"),
             "investigator": c.accounts.add_user("enqueteur", "Enqu3teur-l0ng-password",
                                                 "investigator"),
             "city": c.accounts.add_user("ville", "V1lle-l0ng-password-x", "operator")}
    for action in VIEWS:
        c.grants.add("admin", action, actor="test")
    for action in ("live", "playback"):
        c.grants.add("operateur", action, "cameras", "1", actor="test")
    for action in ("playback", "export"):
        c.grants.add("enqueteur", action, actor="test")
    c.grants.add("ville", "playback", "owner", "city", actor="test")
    for cam in (1, 2):
        store = c.store
        path = store.stream_dir(cam, "main") / f"20261125T203000000Z_{cam:06d}.mp4"
        path.write_bytes(fmp4)
        key = store.key_of(path)
        size, digest = store.finalize(key)
        c.index.insert([SegmentRow(cam, "main", key, T0, T0 + 2 * S, size, digest,
                                   "avc1.64000d", 777)], [])
    with c.sessions.begin() as db:
        db.add(JudicialCase(id=1, reference="PV 1", service="BSU", officer="Lt A",
                            requisition_date=date(2026, 11, 25), legal_basis="art. 60-1 CPP",
                            created_by="someone", created_utc_us=T0))
        db.flush()
        db.add(ExportJob(id=1, case_id=1, camera_ids="[1]", start_utc_us=T0,
                         end_utc_us=T0 + 2 * S, requested_by="someone", requested_utc_us=T0,
                         state="done", bytes_total=1, bytes_done=1, cancel_requested=False,
                         package_name="p.zip", package_size=len(fmp4)))
    c.exports.dir.mkdir(parents=True, exist_ok=True)
    (c.exports.dir / "p.zip").write_bytes(fmp4)
    c.plates.search_index.insert_passages([passage_from_reads(
        cam, [ReadRow(T0, "GH-417-KT", 0.9)], crop_key="cam/1.jpg") for cam in (1, 2)])
    c.plates.crops_dir.joinpath("cam").mkdir(parents=True, exist_ok=True)
    c.plates.crops_dir.joinpath("cam/1.jpg").write_bytes(fmp4)
    app = create_app(c, run_background=False)
    with TestClient(app) as client:
        yield Env(c, client, clock, users,
                  {k: c.accounts.open_session(u, "testclient") for k, u in users.items()},
                  fmp4)


def carries_pixels(r: Any, fmp4: bytes) -> bool:
    return fmp4[:32] in r.content or fmp4[100:132] in r.content or any(
        r.headers.get("content-type", "").startswith(t)
        for t in ("video/", "image/", "application/zip", "application/vnd.apple.mpegurl"))


def headers_for(rng: str | None) -> dict[str, str]:
    return {} if rng is None else {"range": rng}


def expected_body(fmp4: bytes, rng: str | None) -> tuple[int, bytes]:
    size = len(fmp4)
    single = {"bytes=0-": (0, size), "bytes=00-": (0, size), "bytes= 0-": (0, size),
              "bytes=-100000000": (0, size), "bytes=1-": (1, size), "bytes=0-99": (0, 100),
              "BYTES=0-9": (0, 10)}
    if rng in single:
        a, b = single[rng]
        return 206, fmp4[a:b]
    return 200, fmp4


# -- segment bytes: every Range form is decided and audited ---------------------------------

@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_segment_request_without_token_is_audited_whatever_its_range(
        env: Env, method: str) -> None:
    client = env.use("operator")
    for rng in RANGES:
        before = env.last_id()
        r = client.request(method, "/api/segments/1/media", headers=headers_for(rng))
        status, body = expected_body(env.fmp4, rng)
        assert r.status_code == status, (rng, r.text[:200])
        assert r.content == (b"" if method == "HEAD" else body), rng
        assert int(r.headers["content-length"]) == len(body), rng
        [event] = env.events(before)
        assert (event.action, event.user_id, event.camera_id) == (
            "playback", env.users["operator"].user_id, 1), rng
        detail = json.loads(event.detail)
        assert detail["segment_id"] == 1 and detail["token"] == "no token"
        assert detail["method"] == method
        assert detail["bytes"] == ("all" if status == 200 else
                                   f"{r.headers['content-range'][6:]}"), rng
        # the same request on a camera it has no right on: refused and written down
        before = env.last_id()
        r = client.request(method, "/api/segments/2/media", headers=headers_for(rng))
        assert r.status_code == 403 and not carries_pixels(r, env.fmp4), rng
        [event] = env.events(before)
        assert (event.action, event.camera_id) == ("playback_denied", 2), rng


def test_an_investigator_needs_the_case_reference_on_every_segment_request(env: Env) -> None:
    client = env.use("investigator")
    for rng in ("bytes=1-", "bytes=00-", "bytes= 0-", "bytes=-100000000", None):
        before = env.last_id()
        r = client.get("/api/segments/1/media", headers=headers_for(rng))
        assert r.status_code == 403 and not carries_pixels(r, env.fmp4), rng
        assert "réquisition" in r.json()["message"]
        [event] = env.events(before)
        assert event.action == "playback_denied"
        assert json.loads(event.detail)["decision"] == "case reference required"
        r = client.get("/api/segments/1/media", params={"reason": CASE},
                       headers=headers_for(rng))
        assert r.status_code == expected_body(env.fmp4, rng)[0]
        event = env.events(before)[-1]
        assert (event.action, event.reason) == ("playback", CASE)


def test_a_range_past_the_end_is_416_and_not_a_granted_view(env: Env) -> None:
    before = env.last_id()
    r = env.use("operator").get("/api/segments/1/media", headers={"range": "bytes=99999999-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(env.fmp4)}"
    [event] = env.events(before)
    assert event.action == "playback_denied"
    assert json.loads(event.detail)["decision"] == "range not satisfiable"


def test_if_range_serves_the_range_only_while_the_file_is_unchanged(env: Env) -> None:
    client = env.use("operator")
    first = client.get("/api/segments/1/media", headers={"range": "bytes=0-9"})
    assert first.status_code == 206
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for validator, status in ((etag, 206), (modified, 206), ('"stale"', 200), (f"W/{etag}", 200)):
        before = env.last_id()
        r = client.get("/api/segments/1/media",
                       headers={"range": "bytes=10-19", "if-range": validator})
        assert r.status_code == status, validator
        assert r.content == (env.fmp4[10:20] if status == 206 else env.fmp4)
        assert [e.action for e in env.events(before)] == ["playback"]


# -- playback tokens ----------------------------------------------------------------------

def playlist_uris(r: Any) -> list[str]:
    assert r.status_code == 200, r.text[:200]
    return [line for line in r.text.splitlines() if line.startswith("/api/segments/")]


def playlist(env: Env, who: str, camera_id: int = 1, start: int = T0, end: int = T0 + 60 * S,
             reason: str | None = None) -> list[str]:
    params: dict[str, Any] = {"from": start, "to": end}
    if reason:
        params["reason"] = reason
    return playlist_uris(env.use(who).get(f"/api/cameras/{camera_id}/playback.m3u8",
                                          params=params))


def test_segments_of_a_playlist_are_covered_by_its_audit_event(env: Env) -> None:
    before = env.last_id()
    [uri] = playlist(env, "operator")
    [opened] = env.events(before)
    assert (opened.action, opened.camera_id) == ("playback", 1)
    token = parse_qs(urlsplit(uri).query)["pt"][0]
    assert token.split(".")[6] == str(opened.id)  # the token names the playlist's event
    client = env.use("operator")
    # hls.js: the init (EXT-X-MAP), then the fragments (EXT-X-BYTERANGE), many times
    for rng in ("bytes=0-776", "bytes=777-", "bytes=777-5000", None):
        r = client.get(uri, headers=headers_for(rng))
        assert r.status_code in (200, 206) and r.content
    assert env.events(opened.id) == []
    # rights can end during a session: the full decision runs on every covered request
    [grant] = [g for g in env.c.grants.list("operateur") if g.action == "playback"]
    env.c.grants.revoke(grant.id, actor="admin")
    r = client.get(uri, headers={"range": "bytes=777-"})
    assert r.status_code == 403 and not carries_pixels(r, env.fmp4)
    [denied] = env.events(opened.id)
    assert denied.action == "playback_denied"
    assert json.loads(denied.detail)["covered_by"] == opened.id


def test_an_investigator_s_playlist_carries_its_case_reference_to_each_segment(
        env: Env) -> None:
    [uri] = playlist(env, "investigator", reason=CASE)
    opened = env.events()[-1]
    assert (opened.action, opened.reason) == ("playback", CASE)
    client = env.use("investigator")
    assert client.get(uri, headers={"range": "bytes=0-"}).status_code == 206
    assert env.events(opened.id) == []
    # the token is bound to the case reference: another one (or none) is not covered
    base = uri.split("&reason=")[0]
    r = client.get(base, headers={"range": "bytes=0-"})
    assert r.status_code == 403
    r = client.get(base + "&reason=PV+autre", headers={"range": "bytes=0-"})
    assert r.status_code == 206
    decisions = [(e.action, json.loads(e.detail).get("decision"), json.loads(e.detail)["token"])
                 for e in env.events(opened.id)]
    assert decisions == [("playback_denied", "case reference required", "bad signature"),
                         ("playback", "granted", "bad signature")]


def tamper(uri: str, index: int, value: str) -> str:
    token = parse_qs(urlsplit(uri).query)["pt"][0]
    parts = token.split(".")
    parts[index] = value
    return uri.replace(token, ".".join(parts))


@pytest.mark.parametrize("case", ["other-user", "other-camera", "other-span", "expired",
                                  "bad-signature", "forged-event"])
def test_a_token_that_does_not_fit_the_request_covers_nothing(env: Env, case: str) -> None:
    """Each is served to a user holding the right, but audited on its own, saying why the
    token was not taken; for an investigator without case reference it is refused."""
    if case == "other-user":
        [uri] = playlist(env, "operator")
        who, why = "admin", "token of another user"
    elif case == "other-camera":
        [uri] = playlist(env, "admin", camera_id=1)
        uri = uri.replace("/segments/1/", "/segments/2/")
        who, why = "admin", "token of another camera"
    elif case == "other-span":
        assert playlist(env, "admin", start=T0 + 100 * S, end=T0 + 200 * S) == []
        token = env.c.gate.issue_playback_token(env.users["admin"], 1, "main", T0 + 100 * S,
                                                T0 + 200 * S, env.last_id(), None)
        uri = f"/api/segments/1/media?pt={token}"
        who, why = "admin", "segment outside the token's span"
    elif case == "expired":
        [uri] = playlist(env, "admin")
        env.clock.advance(PLAYBACK_TOKEN_S + 1)
        env.tokens = {k: env.c.accounts.open_session(u, "testclient")  # sessions expired too
                      for k, u in env.users.items()}
        who, why = "admin", "token expired"
    elif case == "bad-signature":
        [uri] = playlist(env, "admin")
        uri = uri[:-1] + ("A" if uri[-1] != "A" else "B")
        who, why = "admin", "bad signature"
    else:  # claim another (someone else's) audit event: the MAC no longer matches
        [uri] = playlist(env, "admin")
        uri = tamper(uri, 6, "1")
        who, why = "admin", "bad signature"
    before = env.last_id()
    r = env.use(who).get(uri, headers={"range": "bytes=1-"})
    assert r.status_code == 206
    [event] = env.events(before)
    assert (event.action, event.user_id) == ("playback", env.users[who].user_id)
    assert json.loads(event.detail)["token"] == why
    # an investigator holding such a token but no case reference gets nothing
    before = env.last_id()
    r = env.use("investigator").get(uri.split("&reason=")[0], headers={"range": "bytes=1-"})
    assert r.status_code == 403 and not carries_pixels(r, env.fmp4)
    assert [e.action for e in env.events(before)] == ["playback_denied"]


# -- unknown cameras and missing files are not granted views --------------------------------

UNKNOWN = 99


@pytest.mark.parametrize("url", [
    f"/api/cameras/{UNKNOWN}/playback.m3u8?from={T0}&to={T0 + 60 * S}",
    f"/api/cameras/{UNKNOWN}/at?t={T0}",
    f"/api/cameras/{UNKNOWN}/clip.mp4?from={T0}&to={T0 + S}",
])
def test_an_unknown_camera_is_a_recorded_refusal(env: Env, url: str) -> None:
    action = "export" if "clip" in url else "playback"
    # a user granted on every camera learns the truth: 404
    before = env.last_id()
    r = env.use("admin").get(url)
    assert r.status_code == 404, r.text[:200]
    [event] = env.events(before)
    assert (event.action, event.camera_id) == (f"{action}_denied", UNKNOWN)
    assert json.loads(event.detail)["decision"] == "unknown camera"
    # anyone else gets exactly what an existing camera it may not see gives: 403
    for who in ("operator", "city"):
        before = env.last_id()
        unknown = env.use(who).get(url)
        existing = env.use(who).get(url.replace(f"/{UNKNOWN}/", "/2/" if who == "operator"
                                                else "/1/")) if action == "export" else \
            env.use(who).get(url.replace(f"/{UNKNOWN}/", "/2/")) if who == "operator" else None
        assert unknown.status_code == 403, (who, unknown.text[:200])
        if existing is not None:
            assert (existing.status_code, existing.json()) == (403, unknown.json())
        first = env.events(before)[0]
        assert (first.action, first.camera_id) == (f"{action}_denied", UNKNOWN)
        assert json.loads(first.detail)["decision"] == "unknown camera"


def test_an_unknown_camera_live_view_is_a_recorded_refusal(env: Env) -> None:
    for who in ("admin", "operator"):
        before = env.last_id()
        with pytest.raises(WebSocketDisconnect) as refused, \
                env.use(who).websocket_connect(f"/api/cameras/{UNKNOWN}/live"):
            pass
        assert refused.value.code == 4403
        [event] = env.events(before)
        assert (event.action, event.camera_id) == ("live_denied", UNKNOWN)


def test_unknown_segments_tell_no_one_without_a_global_right_which_ids_exist(env: Env) -> None:
    before = env.last_id()
    assert env.use("admin").get("/api/segments/777/media").status_code == 404
    for url in ("/api/segments/777/media", "/api/segments/2/media"):  # missing, not granted
        r = env.use("operator").get(url, headers={"range": "bytes=1-"})
        assert (r.status_code, r.json()["error"]) == (403, "Forbidden")
    events = env.events(before)
    assert [(e.action, e.camera_id, json.loads(e.detail)["decision"]) for e in events] == [
        ("playback_denied", None, "not found"), ("playback_denied", None, "not found"),
        ("playback_denied", 2, "no valid grant for this camera and action")]


def test_a_segment_whose_file_is_gone_is_404_and_not_a_granted_view(env: Env) -> None:
    [seg] = env.c.index.covering(1, "main", T0, T0 + S)
    env.c.store.path_of(seg.storage_key).unlink()
    before = env.last_id()
    assert env.use("operator").get("/api/segments/1/media").status_code == 404
    [event] = env.events(before)
    assert (event.action, json.loads(event.detail)["decision"]) == ("playback_denied",
                                                                      "not found")


def test_an_export_download_that_ends_in_404_is_not_logged_as_granted(env: Env) -> None:
    (env.c.exports.dir / "p.zip").unlink()
    before = env.last_id()
    r = env.use("admin").get("/api/exports/1/download")
    assert r.status_code == 404
    events = env.events(before)
    assert [(e.action, e.camera_id, json.loads(e.detail)["decision"]) for e in events] == [
        ("export_denied", 1, "not found")]
    # an unknown job: 404 to who may export everywhere, 403 to others; refusals both
    before = env.last_id()
    assert env.use("admin").get("/api/exports/55/download").status_code == 404
    assert env.use("operator").get("/api/exports/55/download").status_code == 403
    assert [(e.action, json.loads(e.detail)["decision"]) for e in env.events(before)] == [
        ("export_denied", "not found"), ("export_denied", "not found")]


def test_an_export_download_is_granted_once_per_camera_and_handed_over(env: Env) -> None:
    before = env.last_id()
    r = env.use("admin").get("/api/exports/1/download", headers={"range": "bytes=00-"})
    assert r.status_code == 206 and r.content == env.fmp4
    assert [e.action for e in env.events(before)] == ["export", "export_download"]


def test_a_plate_crop_whose_file_is_gone_is_not_a_granted_view(env: Env) -> None:
    env.c.plates.crops_dir.joinpath("cam/1.jpg").unlink()
    before = env.last_id()
    assert env.use("admin").get("/api/plates/passages/1/crop.jpg").status_code == 404
    assert env.use("admin").get("/api/plates/passages/9/crop.jpg").status_code == 404
    assert env.use("operator").get("/api/plates/passages/9/crop.jpg").status_code == 403
    assert [(e.action, e.camera_id, json.loads(e.detail)["decision"])
            for e in env.events(before)] == [("playback_denied", 1, "not found"),
                                             ("playback_denied", None, "not found"),
                                             ("playback_denied", None, "not found")]
    assert env.use("operator").get("/api/plates/passages/2/crop.jpg").status_code == 403


# -- every media route, enumerated from the app ---------------------------------------------

# How to reach camera 1's pixels on each media route (camera 2's: same with 2 / segment 2).
REACH = {
    "/api/cameras/{camera_id}/playback.m3u8": "/api/cameras/{cam}/playback.m3u8?from={a}&to={b}",
    "/api/segments/{segment_id}/media": "/api/segments/{cam}/media",
    "/api/cameras/{camera_id}/at": "/api/cameras/{cam}/at?t={a}",
    "/api/cameras/{camera_id}/clip.mp4": "/api/cameras/{cam}/clip.mp4?from={a}&to={b}",
    "/api/exports/{job_id}/download": "/api/exports/1/download",
    "/api/plates/passages/{passage_id}/crop.jpg": "/api/plates/passages/{cam}/crop.jpg",
    "/api/cameras/{camera_id}/live": "/api/cameras/{cam}/live",
    # the live-edge route (open or not-yet-indexed files; an indexed one is served by name)
    "/api/cameras/{camera_id}/recording/{file_name}":
        "/api/cameras/{cam}/recording/20261125T203000000Z_{cam:06d}.mp4",
}
ODD_HEADERS = [*({"range": r} for r in RANGES if r), {"range": "bytes=0-", "if-range": '"x"'},
               {}]


def reach(path: str, cam: int) -> str:
    return REACH[path].format(cam=cam, a=T0, b=T0 + S)


def test_no_media_route_serves_a_byte_without_a_recorded_decision(env: Env) -> None:
    """For every media route of the app: refused (403) and written down for a user without
    the right and for an investigator without case reference, whatever the Range and method;
    granted requests each covered by an event of that user and camera."""
    routes = [r for r in app_routes(env.client.app) if r.path in MEDIA_ROUTES]
    assert {r.path for r in routes} == set(REACH) == MEDIA_ROUTES
    operator = env.users["operator"].user_id
    for route in routes:
        if route.websocket:
            continue
        # the export package of camera 1 is refused to the operator (no export right)
        refused_url = reach(route.path, 2)
        for method in sorted(route.methods):
            for headers in ODD_HEADERS:
                for who, url in (("operator", refused_url), ("investigator", reach(route.path, 1))):
                    if who == "investigator" and "exports" in url:
                        continue  # a package carries its own case reference
                    before = env.last_id()
                    r = env.use(who).request(method, url, headers=headers)
                    label = f"{who} {method} {url} {headers}"
                    assert r.status_code == 403, f"{label}: {r.status_code} {r.text[:100]}"
                    assert not carries_pixels(r, env.fmp4), label
                    events = env.events(before)
                    assert events and all(e.action.endswith("_denied") for e in events), label
                    assert all(e.user_id == env.users[who].user_id for e in events), label
        # granted: every request that gives bytes has its own event (token-less here)
        for headers in ODD_HEADERS:
            before = env.last_id()
            r = env.use("admin").get(reach(route.path, 1), headers=headers)
            assert r.status_code in (200, 206), f"{route.path} {headers}: {r.status_code}"
            events = env.events(before)
            views = [e for e in events if e.action in VIEWS]
            assert views and all(e.camera_id == 1 and e.user_id == env.users["admin"].user_id
                                 for e in views), (route.path, [e.action for e in events])
    # live: refused and written down, granted and written down
    before = env.last_id()
    with pytest.raises(WebSocketDisconnect), env.use("operator").websocket_connect(
            reach("/api/cameras/{camera_id}/live", 2)):
        pass
    assert [(e.action, e.user_id) for e in env.events(before)] == [("live_denied", operator)]


def test_the_playback_page_s_playlist_addresses_are_what_the_player_fetches(env: Env) -> None:
    """The browser plays the addresses of the playlist as they are (hls.js resolves them
    against the playlist URL): each carries the token and, for an investigator, the case."""
    r = env.use("investigator").get("/api/cameras/1/playback.m3u8",
                                    params={"from": T0, "to": T0 + 60 * S, "reason": CASE})
    maps = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', r.text)
    uris = playlist_uris(r)
    assert maps == uris and len(uris) == 1
    query = parse_qs(urlsplit(uris[0]).query)
    assert query["reason"] == [CASE] and len(query["pt"][0]) < 120


def test_the_gate_refuses_unknown_cameras_on_both_databases(any_db_url: str,
                                                            make_container: Any) -> None:
    """An `owner: city` grant used to reach any unknown id (decided as a city camera)."""
    from guetteur.domain.cameras import CameraSpec
    from guetteur.domain.errors import Forbidden, NotFound

    c = make_container(any_db_url, clock=FakeClock(T0))
    c.registry.add(CameraSpec(name="Mairie", main_url="rtsp://192.0.2.10/s"))
    city = c.accounts.add_user("ville", "V1lle-l0ng-password-x", "operator")
    admin = c.accounts.add_user("admin", "Adm1n-l0ng-password", "admin")
    c.grants.add("ville", "playback", "owner", "city")
    c.grants.add("admin", "playback")
    assert c.gate.authorize_media(city, "playback", 1) > 0
    with pytest.raises(Forbidden):
        c.gate.authorize_media(city, "playback", UNKNOWN)
    with pytest.raises(NotFound):
        c.gate.authorize_media(admin, "playback", UNKNOWN)
    with c.sessions() as db:
        events = list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))[-3:]
    assert [(e.action, e.camera_id, json.loads(e.detail)["decision"]) for e in events] == [
        ("playback", 1, "granted"), ("playback_denied", UNKNOWN, "unknown camera"),
        ("playback_denied", UNKNOWN, "unknown camera")]
