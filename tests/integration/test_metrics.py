"""GET /metrics and the cluster view, on a real app (`create_app`) over a real SQLite database,
driven by Starlette's TestClient (decision 0014).

/metrics: Prometheus text that prometheus_client's own parser reads, with the families of a
node after some activity (a login, audit events, a refused media request, a gap indexed by the
real batching writer, a space check); refused (French 403) to an address outside
GUETTEUR_METRICS_ALLOW and without the token; never a camera URL, name or credential.
The nodes page and GET /api/admin/nodes: the `cluster_node` rows for an administrator
(« injoignable » past 15 s, « — » for what a node did not report), refused to an operator and
to a landlord.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from guetteur.adapters.db.models import ClusterNode
from guetteur.bootstrap import Container
from guetteur.domain.cameras import CameraSpec, Credentials
from guetteur.domain.clock import FakeClock
from guetteur.services.segment_index import GapRow
from guetteur.services.segment_writer import SegmentWriter
from guetteur.web.app import create_app
from guetteur.web.session import COOKIE

T0 = 1_795_638_600_000_000
S = 1_000_000
ADMIN_PW = "Adm1n-l0ng-password"
CAM_USER, CAM_PW = "camadmin", "Cam3ra-S3cret!"
CAM_HOST = "192.0.2.77"
TOKEN = "metrics-token-0123456789abcdef"


def client_for(c: Container, addr: str = "127.0.0.1") -> TestClient:
    return TestClient(create_app(c, run_background=False), client=(addr, 50000))


@pytest.fixture
def node(sqlite_url: str, make_container: Any) -> Iterator[tuple[Container, dict[str, str]]]:
    """A container with an administrator, an operator and a landlord (session tokens)."""
    clock = FakeClock(T0)
    c = make_container(sqlite_url, clock=clock, metrics_token=TOKEN)
    c.registry.add_partner("Habitat 77")
    users = {"admin": c.accounts.add_user("admin", ADMIN_PW, "admin"),
             "operator": c.accounts.add_user("operateur", "Op3rateur-l0ng-password",
                                             "operator"),
             "landlord": c.accounts.add_user("bailleur", "Ba1lleur-l0ng-password", "landlord",
                                             partner="Habitat 77")}
    tokens = {k: c.accounts.open_session(u, "testclient") for k, u in users.items()}
    yield c, tokens


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict[str, Any], name: str, **labels: str) -> float:
    fam = fams[name]
    for sample in fam.samples:
        if sample.name in (name, f"{name}_total") and all(
                sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    raise AssertionError(f"no sample {name} {labels}: {fam.samples}")


def test_metrics_text_parses_with_every_family_after_activity(
        node: tuple[Container, dict[str, str]]) -> None:
    c, tokens = node
    c.space.check_once()

    async def one_gap() -> None:  # the real batching writer indexes a gap
        c.writer = SegmentWriter(c.store, c.index)
        cam = c.registry.add(CameraSpec(name="Quai 1", main_url="rtsp://192.0.2.5/x"))
        c.writer.submit(GapRow(cam.id, "main", T0, T0 + 10 * S, "camera_offline"))
        c.writer.close()
        await c.writer.run()

    asyncio.run(one_gap())
    with client_for(c) as client:
        assert client.post("/login", data={"username": "admin", "password": "wrong"},
                           follow_redirects=False).status_code in (200, 303, 401, 429)
        client.cookies.set(COOKIE, tokens["operator"])
        refused = client.get("/api/segments/999/media")  # no grant: refused, audited
        assert refused.status_code == 403
        client.cookies.clear()
        r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    fams = families(r.text)
    expected = {
        "guetteur_recorder_streams", "guetteur_recorder_restarts", "guetteur_segments_indexed",
        "guetteur_recorded_bytes", "guetteur_segment_writer_queue_depth",
        "guetteur_recording_gaps", "guetteur_live_viewers", "guetteur_media_responses",
        "guetteur_audit_events", "guetteur_access_refusals", "guetteur_jobs",
        "guetteur_storage_free_bytes", "guetteur_storage_total_bytes"}
    assert expected <= set(fams), expected - set(fams)
    assert value(fams, "guetteur_audit_events") >= 2  # the failed login, the refusal
    assert value(fams, "guetteur_access_refusals", action="playback") == 1
    assert value(fams, "guetteur_media_responses", kind="segment", status="4xx") == 1
    assert value(fams, "guetteur_recording_gaps", reason="camera_offline") == 1
    assert value(fams, "guetteur_segment_writer_queue_depth") == 0
    assert value(fams, "guetteur_jobs", kind="export", state="queued") == 0
    assert value(fams, "guetteur_storage_free_bytes") > 0
    assert value(fams, "guetteur_recorder_streams", state="recording") == 0


def test_each_container_has_its_own_registry(node: tuple[Container, dict[str, str]],
                                              make_container: Any, tmp_path: Any) -> None:
    c, _ = node
    other = make_container(f"sqlite:///{tmp_path / 'other.db'}", data_dir=tmp_path / "other")
    assert other.metrics.registry is not c.metrics.registry
    before = value(families(c.metrics.exposition().decode()), "guetteur_audit_events")
    c.audit.append("test_event")
    after = value(families(c.metrics.exposition().decode()), "guetteur_audit_events")
    assert after == before + 1
    assert value(families(other.metrics.exposition().decode()), "guetteur_audit_events") == 0


def test_metrics_never_show_a_camera_url_or_credential(
        node: tuple[Container, dict[str, str]]) -> None:
    c, tokens = node
    with client_for(c) as client:
        client.cookies.set(COOKIE, tokens["admin"])
        info = c.accounts.session(tokens["admin"])
        assert info is not None
        created = client.post("/api/cameras", headers={"x-csrf-token": info.csrf_token},
                              json={"name": "Rue des Lilas",
                                    "main_url": f"rtsp://{CAM_HOST}:554/live",
                                    "username": CAM_USER, "password": CAM_PW})
        assert created.status_code == 201, created.text
        client.cookies.clear()
        text = client.get("/metrics").text
    assert "guetteur_audit_events" in text
    for secret in (CAM_PW, CAM_USER, CAM_HOST, "rtsp://", "Rue des Lilas"):
        assert secret not in text


def test_metrics_refused_outside_the_allowed_networks_without_token(
        node: tuple[Container, dict[str, str]]) -> None:
    c, tokens = node
    with client_for(c, "203.0.113.9") as client:
        r = client.get("/metrics")
        assert r.status_code == 403
        assert "GUETTEUR_METRICS_ALLOW" in r.json()["message"]
        assert "guetteur_" not in r.text
        assert client.get("/metrics", headers={"authorization": "Bearer wrong"}
                          ).status_code == 403
        # a session (even an administrator's) is not what opens the metrics
        client.cookies.set(COOKIE, tokens["admin"])
        assert client.get("/metrics").status_code == 403
        client.cookies.clear()
        ok = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and "guetteur_jobs" in ok.text
    with client_for(c, "::1") as client:
        assert client.get("/metrics").status_code == 200


def test_metrics_allow_list_is_a_setting(sqlite_url: str, make_container: Any) -> None:
    c = make_container(sqlite_url, metrics_allow="10.0.0.0/8")
    with client_for(c, "10.1.2.3") as client:
        assert client.get("/metrics").status_code == 200
    with client_for(c, "127.0.0.1") as client:
        assert client.get("/metrics").status_code == 403  # no token set: address only


# -- the cluster view -------------------------------------------------------------------------

def _nodes(c: Container) -> None:
    now = c.clock.now_us()
    with c.sessions.begin() as db:
        db.add(ClusterNode(name="rec-1", roles="recorder", version="0.1.0",
                           internal_url="http://10.0.0.1:8081", started_utc_us=now - 600 * S,
                           heartbeat_utc_us=now - 2 * S, draining=False,
                           stats=json.dumps({"cameras_held": 150, "cpu_pct": 37.5,
                                             "spool_bytes": 3 * 1024**2, "store_errors": 0})))
        db.add(ClusterNode(name="rec-2", roles="recorder,worker", version="0.1.0",
                           internal_url=None, started_utc_us=now - 900 * S,
                           heartbeat_utc_us=now - 40 * S, draining=True, stats="{}"))


def test_nodes_api_for_an_administrator(node: tuple[Container, dict[str, str]]) -> None:
    c, tokens = node
    _nodes(c)
    with client_for(c) as client:
        client.cookies.set(COOKIE, tokens["admin"])
        r = client.get("/api/admin/nodes")
    assert r.status_code == 200, r.text
    rec1, rec2 = r.json()
    assert rec1 | {"started_utc_us": 0, "heartbeat_utc_us": 0} == {
        "name": "rec-1", "roles": ["recorder"], "version": "0.1.0", "started_utc_us": 0,
        "heartbeat_utc_us": 0, "heartbeat_age_s": 2.0, "reachable": True, "draining": False,
        "cameras_held": 150, "cpu_pct": 37.5, "spool_bytes": 3 * 1024**2, "store_errors": 0}
    assert rec2["reachable"] is False and rec2["draining"] is True
    assert rec2["heartbeat_age_s"] == 40.0 and rec2["roles"] == ["recorder", "worker"]
    assert rec2["cameras_held"] is None and rec2["cpu_pct"] is None
    assert "internal_url" not in rec1


def test_nodes_page_shows_an_unreachable_node_in_red(
        node: tuple[Container, dict[str, str]]) -> None:
    c, tokens = node
    _nodes(c)
    with client_for(c) as client:
        client.cookies.set(COOKIE, tokens["admin"])
        r = client.get("/admin/nodes", headers={"accept": "text/html"})
        assert r.status_code == 200, r.text
        assert 'href="/admin/nodes"' in client.get("/admin").text
    page = r.text
    row1 = page.split('data-node="rec-1"')[1].split("</tr>")[0]
    row2 = page.split('data-node="rec-2"')[1].split("</tr>")[0]
    assert 'data-reachable="yes"' in row1 and "injoignable" not in row1
    assert "150" in row1 and "38 %" in row1 and "3,0 Mio" in row1
    assert 'data-reachable="no"' in row2 and "injoignable" in row2
    assert 'data-state="stopped"' in row2 and "node-late" in row2  # red
    assert "il y a 40 s" in row2 and row2.count("—") == 4


@pytest.mark.parametrize("role", ["operator", "landlord"])
def test_nodes_refused_to_others(node: tuple[Container, dict[str, str]], role: str) -> None:
    c, tokens = node
    _nodes(c)
    with client_for(c) as client:
        client.cookies.set(COOKIE, tokens[role])
        api = client.get("/api/admin/nodes")
        assert api.status_code == 403
        assert api.json()["message"] == "Action non autorisée pour votre compte."
        page = client.get("/admin/nodes", headers={"accept": "text/html"})
        assert page.status_code == 403
        assert "réservée aux administrateurs" in page.text and "rec-1" not in page.text


def test_recorder_metrics_of_a_camera_that_refuses_without_its_url(
        sqlite_url: str, make_container: Any) -> None:
    """A real recorder (real ffmpeg) on a camera whose port refuses: the stream shows as
    reconnecting, its restarts count, and neither its URL nor its credentials appear."""
    c = make_container(sqlite_url, backoff_max_s=0.5)
    c.registry.add(CameraSpec(name="Rue des Lilas", main_url="rtsp://127.0.0.1:9/live",
                              credentials=Credentials(CAM_USER, CAM_PW)))

    async def scrape_while_recording() -> str:
        await c.start(record=True, purge=False, exports=False)
        try:
            for _ in range(100):
                await asyncio.sleep(0.1)
                text = (await asyncio.to_thread(c.metrics.exposition)).decode()
                fams = families(text)
                if value(fams, "guetteur_recorder_restarts") >= 1:
                    return text
            raise AssertionError("the recorder never restarted")
        finally:
            await c.stop()

    text = asyncio.run(scrape_while_recording())
    fams = families(text)
    assert value(fams, "guetteur_recorder_streams", state="reconnecting") == 1
    assert value(fams, "guetteur_storage_free_bytes") > 0  # the space guard's first check
    for secret in (CAM_PW, CAM_USER, "127.0.0.1:9", "rtsp://", "Rue des Lilas"):
        assert secret not in text


def test_a_bad_allow_list_is_refused_at_start() -> None:
    from pydantic import ValidationError

    from guetteur.settings import Settings

    with pytest.raises(ValidationError, match="GUETTEUR_METRICS_ALLOW"):
        Settings(_env_file=None, metrics_allow="10.0.0.0/8,not-a-network")  # type: ignore[call-arg]
