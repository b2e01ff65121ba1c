"""Cost of the audit decision per media request (issue 9: one way pixels leave).

Every segment request now runs the full gate decision: with a valid playback token (from the
playlist) the decision only (no audit write), without one the decision and an audit event.
Measured on SQLite and PostgreSQL, in the same run as the baselines:

1. In-process: `AccessGate.authorize_media` writing its event (token-less request), the same
   covered by a token (`playback_cover` + decision, no write), and a bare `decide`.
2. Over HTTP (Starlette TestClient, the real app, session cookie, `Range: bytes=777-`):
   baseline = a route added to the same app that sends the same file with Starlette's plain
   `FileResponse` (session middleware included, no gate); then the segment route with the
   playlist's token, and without a token (one audit event each).

    .venv/bin/python bench/audit_decision.py [--calls 400] [--no-pg]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import code_version, command_line, machine, percentile, table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fastapi.responses import FileResponse
from starlette.testclient import TestClient

from guetteur.bootstrap import build
from guetteur.domain.cameras import CameraSpec
from guetteur.domain.permissions import decide
from guetteur.services.segment_index import SegmentRow
from guetteur.settings import Settings
from guetteur.web.app import create_app
from guetteur.web.session import COOKIE

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
T0 = 1_795_638_600_000_000
S = 1_000_000


def timed(fn: Callable[[], Any], calls: int) -> list[str]:
    for _ in range(min(50, calls)):
        fn()
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return [str(calls), f"{percentile(samples, 50):.3f}", f"{percentile(samples, 99):.3f}"]


def bench(db_url: str, label: str, calls: int) -> list[list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        c = build(Settings(_env_file=None, data_dir=Path(tmp), database_url=db_url,  # type: ignore[call-arg]
                           secret_key="bench-secret-key-0123456789-abcdefghij"))
        try:
            for i in range(20):
                c.registry.add(CameraSpec(name=f"CAM-{i:02d}", main_url=f"rtsp://192.0.2.{i}/s",
                                          site=f"Site {i % 5}"))
            who = c.accounts.add_user("op", "operator-password-1", "operator")
            c.grants.add("op", "playback", "cameras", "CAM-01,CAM-06,CAM-11")
            cam = c.registry.list()[1].id
            path = c.store.stream_dir(cam, "main") / "20261125T203000000Z_000001.mp4"
            path.write_bytes(b"\0\0\0\x18ftypiso5" + bytes(200_000))
            key = c.store.key_of(path)
            size, digest = c.store.finalize(key)
            c.index.insert([SegmentRow(cam, "main", key, T0, T0 + 10 * S, size, digest,
                                       "avc1.64000d", 777)], [])
            [seg] = c.index.covering(cam, "main", T0, T0 + S)
            event = c.gate.authorize_media(who, "playback", cam, detail={"bench": True})
            token = c.gate.issue_playback_token(who, cam, "main", T0, T0 + 60 * S, event, None)
            grants = c.gate.grants_of(who.user_id)
            ref = c.gate.camera_ref(cam)

            def covered() -> None:
                covered_by, _ = c.gate.playback_cover(token, who, cam, "main", seg.start_utc_us,
                                                      seg.end_utc_us, None)
                c.gate.authorize_media(who, "playback", cam, covered_by=covered_by)

            rows = [
                [label, "in-process: decide() alone (baseline)",
                 *timed(lambda: decide(who, grants, "playback", ref, c.clock.now_us()), calls)],
                [label, "in-process: token check + full decision (covered, no write)",
                 *timed(covered, calls)],
                [label, "in-process: full decision + audit event (no token)",
                 *timed(lambda: c.gate.authorize_media(who, "playback", cam,
                                                       detail={"bench": True}), calls)],
            ]
            app = create_app(c, run_background=False)

            async def plain() -> Any:
                return FileResponse(path, media_type="video/mp4")

            app.add_api_route("/api/bench-plain", plain)
            with TestClient(app) as client:
                client.cookies.set(COOKIE, c.accounts.open_session(who, "bench"))
                headers = {"range": "bytes=777-"}
                url = f"/api/segments/{seg.id}/media"
                for name, target in (
                        ("HTTP: plain FileResponse, no gate (baseline)", "/api/bench-plain"),
                        ("HTTP: segment with playlist token", f"{url}?pt={token}"),
                        ("HTTP: segment without token (audited)", url)):
                    def get(target: str = target) -> None:
                        r = client.get(target, headers=headers)
                        assert r.status_code == 206, (target, r.status_code, r.text[:200])
                    rows.append([label, name, *timed(get, calls)])
            return rows
        finally:
            c.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    print(f"# audit_decision — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"command: {command_line()}\nmachine: {machine()}\n{code_version()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench(f"sqlite:///{tmp}/gate.db", "SQLite", args.calls)
    if not args.no_pg:
        import psycopg

        name = f"guetteur_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            rows += bench(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", "PostgreSQL", args.calls)
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("## Gate decision per media request (ms)\n")
    print(table(["database", "what", "calls", "p50 ms", "p99 ms"], rows))


if __name__ == "__main__":
    main()
