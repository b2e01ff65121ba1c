"""Access control costs (issue 3): the gate + audit write on a media request, and `audit
verify` throughput.

1. Gate: `AccessGate.authorize_media` (grants read, decision, audit event appended and
   committed) for an operator with scoped grants, N times on SQLite (and PostgreSQL unless
   --no-pg), side by side in the same run with its parts: the decision alone
   (`AccessGate.allowed`) and a bare audit append. Then the same over HTTP: the time of a
   segment byte-range request that is audited (first range of a segment) against one that is
   only checked (a later range) — the difference is what the audit write adds to a request.
   Target: p99 of the gate + audit < 2 ms.
2. Verify: a trail of --events chained events (default 1,000,000) is bulk-inserted into
   SQLite, then `services.audit.verify` (2 worker processes) is timed, against a baseline in
   the same run: plain sha256 over the same rows' bytes in one process (the floor of any
   verification). Target: 1 million events in under 10 s.

    .venv/bin/python bench/access_audit.py [--calls 2000] [--events 1000000] [--no-pg]
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _common import code_version, command_line, machine, percentile, table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from guetteur.bootstrap import build
from guetteur.domain.audit import GENESIS, canonical_detail, event_hash
from guetteur.domain.cameras import CameraSpec
from guetteur.services.audit import verify
from guetteur.settings import Settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def stats_ms(samples: list[float]) -> list[str]:
    ms = [s * 1000 for s in samples]
    return [f"{percentile(ms, 50):.3f}", f"{percentile(ms, 99):.3f}", f"{max(ms):.3f}"]


def setup(db_url: str, data_dir: Path) -> Any:
    c = build(Settings(_env_file=None, data_dir=data_dir, database_url=db_url,  # type: ignore[call-arg]
                       secret_key="bench-secret-key-0123456789-abcdefghij"))
    for i in range(20):
        c.registry.add(CameraSpec(name=f"CAM-{i:02d}", main_url=f"rtsp://192.0.2.{i}/s",
                                  site=f"Site {i % 5}"))
    who = c.accounts.add_user("op", "operator-password-1", "operator")
    c.grants.add("op", "live", "site", "Site 1")
    c.grants.add("op", "playback", "cameras", "CAM-01,CAM-06,CAM-11")
    return c, who


def bench_gate(db_url: str, label: str, calls: int) -> list[list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        c, who = setup(db_url, Path(tmp))
        try:
            rows = []
            for name, fn in (
                ("gate + audit (authorize_media)", lambda: c.gate.authorize_media(
                    who, "playback", 2, client_addr="127.0.0.1", detail={"bench": True})),
                ("decision only (allowed)", lambda: c.gate.allowed(who, "playback", 2)),
                ("audit append only", lambda: c.audit.append(
                    "bench", user_id=who.user_id, username=who.username, camera_id=1)),
            ):
                for _ in range(50):
                    fn()
                samples = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    fn()
                    samples.append(time.perf_counter() - t0)
                rows.append([label, name, calls, *stats_ms(samples)])
            return rows
        finally:
            c.close()


def bench_verify(events: int) -> list[list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        c = build(Settings(_env_file=None, data_dir=data,  # type: ignore[call-arg]
                           secret_key="bench-secret-key-0123456789-abcdefghij"))
        db_path = data / "guetteur.db"
        t0 = time.perf_counter()
        con = sqlite3.connect(db_path)
        prev = GENESIS
        batch = []
        at = 1_790_000_000_000_000
        detail = canonical_detail({"stream": "main", "decision": "granted", "grants": [1]})
        for i in range(events):
            at += 1000
            cam = i % 20 + 1
            digest = event_hash(prev, at, 2, "op", "playback", cam, at - 60_000_000, at,
                                "10.0.0.5", detail, key=c.audit.key)
            batch.append((at, 2, "op", "playback", cam, at - 60_000_000, at, "10.0.0.5",
                          detail, prev, digest))
            prev = digest
            if len(batch) == 50_000:
                con.executemany("INSERT INTO audit_event (at_utc_us, user_id, username, action,"
                                " camera_id, range_from_utc_us, range_to_utc_us, client_addr,"
                                " detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                                batch)
                con.commit()
                batch = []
        if batch:
            con.executemany("INSERT INTO audit_event (at_utc_us, user_id, username, action,"
                            " camera_id, range_from_utc_us, range_to_utc_us, client_addr,"
                            " detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
            con.commit()
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        n = 0
        for row in con.execute("SELECT at_utc_us, username, action, detail, prev_hash, hash "
                               "FROM audit_event ORDER BY id"):
            hashlib.sha256(repr(row).encode()).digest()
            n += 1
        floor_s = time.perf_counter() - t0
        con.close()
        report = verify(c.settings.db_url, c.sessions, key=c.audit.key)
        c.close()
        assert report.ok and report.events == events, report
        return [
            ["baseline: read + sha256 of each row, 1 process", n, f"{floor_s:.2f}",
             f"{n / floor_s:,.0f}"],
            ["guetteur audit verify (2 processes)", report.events, f"{report.seconds:.2f}",
             f"{report.events / report.seconds:,.0f}"],
            [f"(building the {events:,}-event trail)", events, f"{build_s:.2f}", ""],
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    print(f"# access_audit — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"command: {command_line()}\nmachine: {machine()}\n{code_version()}\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += bench_gate(f"sqlite:///{tmp}/gate.db", "SQLite", args.calls)
    if not args.no_pg:
        import psycopg

        name = f"guetteur_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            rows += bench_gate(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", "PostgreSQL",
                               args.calls)
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("## Gate + audit write per media request (ms)\n")
    print(table(["database", "what", "calls", "p50 ms", "p99 ms", "max ms"], rows))
    print("\n## Audit chain verification\n")
    print(table(["what", "events", "seconds", "events/s"], bench_verify(args.events)))


if __name__ == "__main__":
    main()
