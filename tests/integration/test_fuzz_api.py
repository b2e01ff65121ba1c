"""A fuzz run of the app's own OpenAPI schema (schemathesis: valid and invalid requests for
every operation, a bounded and reproducible number of each), as an operator granted on one
camera and as a landlord: no response is a server error; the landlord never gets media (no
video/* type, no MP4 box at the start of a body); the operator never gets the other camera's.

Each request carries the caller's session cookie and CSRF token, as the UI's requests do. The
schema is read from /openapi.json with that session (the middleware guards it too). Media
operations get a second pass with a valid time range, so that their gate, not their parameter
validation, answers.

Reproducible by default (derandomized). A deeper, random run: `GUETTEUR_TEST_FUZZ_EXAMPLES=200
GUETTEUR_TEST_FUZZ_RANDOM=1 pytest tests/integration/test_fuzz_api.py`.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from starlette.testclient import TestClient

from guetteur.bootstrap import Container
from guetteur.domain.cameras import CameraSpec
from guetteur.domain.clock import FakeClock
from guetteur.services.segment_index import SegmentRow
from guetteur.web.app import create_app
from guetteur.web.session import COOKIE
from support import looks_like_video, make_fmp4

T0 = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z
S = 1_000_000
EXAMPLES = int(os.environ.get("GUETTEUR_TEST_FUZZ_EXAMPLES", "15"))  # per operation and mode
# A guard against a hanging operation, not a speed target (those live in bench/): generous,
# per operation, so that adding routes or running on a loaded machine does not fail it.
OPERATION_BUDGET_S = 30 * EXAMPLES / 15
PARTNER = "Habitat 77"
RANDOM = bool(os.environ.get("GUETTEUR_TEST_FUZZ_RANDOM"))  # a new seed each run
OTHER_CAMERA_MARK = b"CAMERA-TWO-ONLY!"


@pytest.fixture(scope="module")
def fmp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fmp4(tmp_path_factory.mktemp("media") / "sample.mp4").read_bytes()


def put_segment(c: Container, cam_id: int, content: bytes) -> None:
    path = c.store.stream_dir(cam_id, "main") / "20261125T203000000Z_000001.mp4"
    path.write_bytes(content)
    key = c.store.key_of(path)
    size, digest = c.store.finalize(key)
    c.index.insert([SegmentRow(cam_id, "main", key, T0, T0 + 2 * S, size, digest,
                               "avc1.64000d", 777)], [])


@pytest.fixture
def c(sqlite_url: str, make_container: Any, fmp4: bytes) -> Container:
    """Camera 1 (the city's) and camera 2 (the landlord's partner's), each with a segment;
    camera 2's bytes carry a mark of their own."""
    c = make_container(sqlite_url, clock=FakeClock(T0 + 60 * S))
    c.registry.add_partner(PARTNER)
    c.registry.add(CameraSpec(name="Mairie", main_url="rtsp://192.0.2.10/s", site="Centre"))
    c.registry.add(CameraSpec(name="Tilleuls", main_url="rtsp://192.0.2.11/s", owner=PARTNER))
    put_segment(c, 1, fmp4)
    put_segment(c, 2, fmp4[:-len(OTHER_CAMERA_MARK)] + OTHER_CAMERA_MARK)
    return c


class Recorder:
    """The app, keeping the traceback of any exception it lets out (a 500)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.errors: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            self.errors.append(f"{scope.get('method')} {scope.get('path')}?"
                               f"{scope.get('query_string', b'').decode()}\n"
                               f"{traceback.format_exc(limit=-4)}")
            raise


@pytest.fixture
def client_for(c: Container) -> Iterator[Callable[[str], tuple[TestClient, Recorder, str]]]:
    app = Recorder(create_app(c, run_background=False))
    clients = []

    def make(username: str) -> tuple[TestClient, Recorder, str]:
        token = c.accounts.open_session(c.accounts.principal_of(username), "testclient")
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        client.cookies.set(COOKIE, token)
        info = c.accounts.session(token)
        assert info is not None
        return client, app, info.csrf_token

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def send(client: TestClient, kwargs: dict[str, Any]) -> Any:
    """A request serialised by schemathesis (for `requests`), sent with the TestClient."""
    assert not kwargs.get("cookies"), kwargs  # the schema declares none: the session's only
    data = kwargs.get("data")
    extra: dict[str, Any] = {}
    if isinstance(data, (bytes, str)):
        extra["content"] = data
    elif data is not None:
        extra["data"] = data
    if kwargs.get("json") is not None or "json" in kwargs:
        extra["json"] = kwargs["json"]
    if kwargs.get("files"):
        extra["files"] = kwargs["files"]
    return client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                          headers=kwargs.get("headers"), follow_redirects=False, **extra)


VALID_RANGE = {"from": str(T0), "to": str(T0 + 4 * S), "t": str(T0 + S)}


def strategies(operation: Any) -> Iterator[tuple[Any, int, bool]]:
    """(strategy, examples, may be unsatisfiable) for one operation: valid and invalid
    requests; for a media operation also valid time ranges on any camera, and on cameras 1
    and 2 (their segments 1 and 2)."""
    valid, invalid = schemathesis.GenerationMode
    yield operation.as_strategy(generation_mode=valid), EXAMPLES, False
    yield operation.as_strategy(generation_mode=invalid), EXAMPLES, True
    names = {p.name for p in operation.iter_parameters()}
    query = {k: v for k, v in VALID_RANGE.items() if k in names}
    ids = {"camera_id", "segment_id"} & names
    if query or ids:
        yield operation.as_strategy(query=query or None), EXAMPLES, False
        for n in (1, 2):
            yield operation.as_strategy(query=query or None,
                                        path_parameters=dict.fromkeys(ids, n)), 3, False


def fuzz(client: TestClient, csrf: str,
         check: Callable[[Any], str | None]) -> tuple[int, list[str], set[str]]:
    """(requests sent, problems, operations) over every operation of the schema."""
    raw = client.get("/openapi.json")
    assert raw.status_code == 200, raw.text[:200]
    schema = schemathesis.openapi.from_dict(raw.json())
    sent = 0
    problems: list[str] = []
    operations: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        started = time.monotonic()
        operations.add(operation.label)
        for strategy, examples, may_be_empty in strategies(operation):

            @settings(max_examples=examples, derandomize=not RANDOM, database=None,
                      deadline=None, phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case: Any) -> None:
                nonlocal sent
                kwargs = case.as_transport_kwargs(base_url="http://testserver",
                                                  headers={"X-CSRF-Token": csrf})
                response = send(client, kwargs)
                sent += 1
                if response.status_code >= 500:
                    problem: str | None = f"HTTP {response.status_code}"
                else:
                    problem = check(response)
                if problem:
                    problems.append(f"{problem}: {kwargs['method']} {kwargs['url']} "
                                    f"params={kwargs.get('params')} "
                                    f"body={str(kwargs.get('json', kwargs.get('data')))[:200]}")

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
                assert may_be_empty, operation.label
        assert time.monotonic() - started < OPERATION_BUDGET_S, f"{operation.label} hangs"
    return sent, problems, operations


def test_fuzz_as_an_operator_granted_on_camera_1(c: Container, client_for: Any,
                                                 fmp4: bytes) -> None:
    c.accounts.add_user("operateur", "Op3rateur-l0ng-password", "operator")
    for action in ("live", "playback"):
        c.grants.add("operateur", action, "cameras", "1")
    client, app, csrf = client_for("operateur")
    served: list[str] = []

    def check(response: Any) -> str | None:
        if OTHER_CAMERA_MARK in response.content:
            return "camera 2's media"
        if looks_like_video(response.headers.get("content-type", ""), response.content):
            if response.content != fmp4:
                return "media that is not camera 1's segment"
            served.append("segment")
        if response.status_code == 200 and response.text.startswith("#EXTM3U"):
            served.append("playlist")
        return None

    sent, problems, operations = fuzz(client, csrf, check)
    assert not problems and not app.errors, "\n".join(problems + app.errors)
    assert {"segment", "playlist"} <= set(served)  # what it may see, it saw
    assert len(operations) >= 20 and "GET /api/segments/{segment_id}/media" in operations
    assert sent >= len(operations) * 2
    # the fuzzer changed nothing an operator may not change
    assert [v.name for v in c.registry.list()] == ["Mairie", "Tilleuls"]
    assert [u.username for u in c.accounts.list()] == ["operateur"]


def test_fuzz_as_a_landlord_gets_no_media(c: Container, client_for: Any, fmp4: bytes) -> None:
    c.accounts.add_user("bailleur", "Ba1lleur-l0ng-password", "landlord", partner=PARTNER)
    client, app, csrf = client_for("bailleur")

    def check(response: Any) -> str | None:
        if looks_like_video(response.headers.get("content-type", ""), response.content):
            return "media to a landlord"
        if fmp4[:64] in response.content or OTHER_CAMERA_MARK in response.content:
            return "segment bytes to a landlord"
        return None

    sent, problems, operations = fuzz(client, csrf, check)
    assert not problems and not app.errors, "\n".join(problems + app.errors)
    assert sent >= len(operations) * 2
    assert [v.name for v in c.registry.list()] == ["Mairie", "Tilleuls"]
    # the landlord still sees its partner's camera's health
    assert [cam["name"] for cam in client.get("/api/cameras").json()] == ["Tilleuls"]


def test_the_fuzz_helpers_send_what_schemathesis_serialised(c: Container,
                                                           client_for: Any) -> None:
    c.accounts.add_user("bailleur", "Ba1lleur-l0ng-password", "landlord", partner=PARTNER)
    client, _app, csrf = client_for("bailleur")
    r = send(client, {"method": "POST", "url": "http://testserver/api/partners",
                      "headers": {"X-CSRF-Token": csrf}, "json": {"name": "X"}})
    assert r.status_code == 403 and r.json()["error"] == "Forbidden"
    r = send(client, {"method": "POST", "url": "http://testserver/api/partners",
                      "headers": {}, "json": {"name": "X"}})
    assert r.status_code == 403 and "CSRF" in r.json()["message"]
    assert Path(c.settings.db_url.split("///")[-1]).exists()

