"""Seek to an instant: time to the first playable bytes, on SQLite and PostgreSQL, against a
naive per-seek ffmpeg in the same run.

An index of `--cameras` cameras x `--days` days of 60-s segments (864,000 rows by default) is
bulk-inserted through the real schema (`make_engine` + `migrate`). Real segment files exist
only for the instants sampled: one fragmented MP4 of 60 s (the simulator's clip, remuxed with
the recorder's fragment options) hard-linked under the storage key of every sampled row.

For `--samples` random (camera, instant) pairs it measures
(a) the index lookup alone: `SegmentIndex.at` in this process;
(b) the whole seek over HTTP, against the real web app (`create_app(container,
    run_background=False)` served by uvicorn in a child process on loopback, session of an
    admin): `GET /api/cameras/{id}/at?t=` then `GET /api/segments/{id}/media` with
    `Range: bytes=0-{init + 200 kB}` (the init and the first fragment), until the last byte;
and, as the baseline, what a naive NVR does per seek: `ffmpeg -ss OFFSET -i FILE -c copy
-frames:v 1` of the same file to a pipe, timed from start to exit. The segment files are the
same inode, hot in the page cache, for both (no disk latency in either).

    .venv/bin/python bench/seek.py [--samples 1000] [--backends sqlite postgresql]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from _common import REPO, code_version, command_line, http_login, machine, percentile, table
from sqlalchemy import insert

from guetteur.adapters.db.models import Segment
from guetteur.adapters.media.fmp4 import scan_file
from guetteur.adapters.simulator import clips
from guetteur.adapters.simulator.runner import SHARED_LABEL
from guetteur.bootstrap import Container, build
from guetteur.domain.cameras import CameraSpec
from guetteur.settings import Settings
from support import CLIP_CACHE, free_port, wait_until

SEGMENT_US = 60_000_000
FIRST_FRAGMENT_BYTES = 200_000
SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"
ADMIN, ADMIN_PW = "bench-admin", "bench-admin-password-42"
PG_ADMIN_URL = os.environ.get("GUETTEUR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Sample:
    camera_no: int  # 0-based: cams[camera_no] is the camera id
    instant_us: int
    segment_no: int  # index of the 60-s segment in the camera's 30 days


def make_segment_file(work: Path) -> tuple[Path, int]:
    """A 60-s fMP4 with the recorder's fragment options; returns (path, init size)."""
    pair = clips.ensure_camera_clips(SHARED_LABEL, CLIP_CACHE, 4)
    raw_mp4 = work / "clip.mp4"
    out = work / "segment-60s.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-framerate", "25", "-i", str(pair.main),
                    "-c", "copy", str(raw_mp4)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "14", "-i", str(raw_mp4),
                    "-map", "0:v", "-c", "copy", "-f", "mp4", "-movflags",
                    "+frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "200000",
                    str(out)], check=True)
    scan = scan_file(out)
    assert scan.init is not None and abs(scan.duration_s - 60) < 0.1, scan
    return out, scan.init.size


def storage_key(camera_id: int, base_us: int, segment_no: int) -> str:
    day, minute = divmod(segment_no, 1440)
    run = time.strftime("%Y%m%dT%H%M%S000000Z", time.gmtime(base_us / 1e6 + day * 86400))
    return f"cam{camera_id:06d}/main/{run}_{minute:06d}.mp4"


def bulk_index(c: Container, cameras: list[int], base_us: int, per_camera: int,
               size_bytes: int, init_size: int) -> float:
    """Insert every row with executemany, one transaction per camera; returns seconds."""
    table_ = Segment.__table__
    t0 = time.perf_counter()
    for cam in cameras:
        rows = [{"camera_id": cam, "stream": "main", "start_utc_us": base_us + k * SEGMENT_US,
                 "end_utc_us": base_us + (k + 1) * SEGMENT_US, "size_bytes": size_bytes,
                 "sha256": f"{cam:08x}{k:056x}", "storage_key": storage_key(cam, base_us, k),
                 "codec": "avc1.4d4028", "init_size_bytes": init_size, "clock_drift_ms": 0,
                 "recovered": False} for k in range(per_camera)]
        with c.engine.begin() as conn:
            conn.execute(insert(table_), rows)
    return time.perf_counter() - t0


def stats_ms(values_s: list[float]) -> list[float]:
    return [1000 * percentile(values_s, p) for p in (50, 95, 99, 100)]


def serve(args: argparse.Namespace) -> None:
    """Child process: the real web app on this container's database, nothing in background."""
    import uvicorn

    from guetteur.web.app import create_app

    settings = Settings(_env_file=None, data_dir=args.data_dir,  # type: ignore[call-arg]
                        database_url=args.db_url, secret_key=SECRET)
    c = build(settings, migrate_db=False)
    config = uvicorn.Config(create_app(c, run_background=False), host="127.0.0.1",
                            port=args.port, log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run()
    finally:
        c.close()


def run_backend(name: str, db_url: str, work: Path, segment: Path, init_size: int,
                samples: list[Sample], args: argparse.Namespace, base_us: int) -> list[list]:
    data_dir = work / name
    settings = Settings(_env_file=None, data_dir=data_dir,  # type: ignore[call-arg]
                        database_url=db_url, secret_key=SECRET)
    c = build(settings)
    rows_out: list[list] = []
    try:
        cams = [int(c.registry.add(CameraSpec(name=f"CAM-{i + 1:02d}",
                                              main_url=f"rtsp://127.0.0.1:1/cam{i + 1}/main",
                                              enabled=False)).id)
                for i in range(args.cameras)]
        c.accounts.add_user(ADMIN, ADMIN_PW, "admin")
        c.grants.add(ADMIN, "playback")  # admins see images only when granted
        per_camera = args.days * 1440
        build_s = bulk_index(c, cams, base_us, per_camera, segment.stat().st_size, init_size)
        total = per_camera * len(cams)
        print(f"# {name}: {total} rows indexed in {build_s:.1f} s", flush=True)
        linked = 0
        for s in samples:
            path = c.store.path_of(storage_key(cams[s.camera_no], base_us, s.segment_no))
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                os.link(segment, path)
                linked += 1
        # (a) the index lookup alone, in this process
        for s in samples[:20]:  # warm-up: connection pool, statement caches
            c.index.at(cams[s.camera_no], "main", s.instant_us)
        lookup: list[float] = []
        for s in samples:
            t0 = time.perf_counter()
            seg = c.index.at(cams[s.camera_no], "main", s.instant_us)
            lookup.append(time.perf_counter() - t0)
            assert seg is not None and seg.start_utc_us == base_us + s.segment_no * SEGMENT_US
        rows_out.append([name, "index lookup (SegmentIndex.at, in-process)", len(samples),
                         *stats_ms(lookup)])
        # (b) the whole seek over HTTP
        port = free_port()
        log = (work / f"server-{name}.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", "--db-url", db_url,
             "--data-dir", str(data_dir), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        log.close()
        try:
            base = f"http://127.0.0.1:{port}"

            def up() -> bool:
                if server.poll() is not None:
                    raise RuntimeError((work / f"server-{name}.log").read_text()[-2000:])
                try:
                    return httpx.get(base + "/healthz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(up, 60, "the web server")
            with httpx.Client(base_url=base, timeout=10, trust_env=False) as client:
                http_login(client, ADMIN, ADMIN_PW)
                assert client.get("/api/cameras").status_code == 200
                for s in samples[:20]:  # warm-up, not counted
                    seek(client, cams[s.camera_no], s.instant_us)
                http: list[float] = []
                for s in samples:
                    t0 = time.perf_counter()
                    got = seek(client, cams[s.camera_no], s.instant_us)
                    http.append(time.perf_counter() - t0)
                    assert got == init_size + FIRST_FRAGMENT_BYTES, got
            rows_out.append([name, "HTTP seek: /at + media Range (init + 200 kB)",
                             len(samples), *stats_ms(http)])
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        c.close()
    return rows_out


def seek(client: httpx.Client, camera_id: int, instant_us: int) -> int:
    r = client.get(f"/api/cameras/{camera_id}/at", params={"t": str(instant_us)})
    r.raise_for_status()
    at = r.json()
    end = at["init_size_bytes"] + FIRST_FRAGMENT_BYTES - 1
    m = client.get(f"/api/segments/{at['segment_id']}/media",
                   headers={"Range": f"bytes=0-{end}"})
    if m.status_code != 206:
        raise RuntimeError(f"media: HTTP {m.status_code}")
    return len(m.content)


def baseline(segment: Path, samples: list[Sample], base_us: int) -> list:
    times: list[float] = []
    for s in samples:
        offset_s = (s.instant_us - base_us - s.segment_no * SEGMENT_US) / 1e6
        t0 = time.perf_counter()
        out = subprocess.run(["ffmpeg", "-v", "error", "-ss", f"{offset_s:.3f}", "-i",
                              str(segment), "-c", "copy", "-frames:v", "1", "-f", "mp4",
                              "-movflags", "frag_keyframe+empty_moov", "pipe:1"],
                             capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
        assert len(out.stdout) > 10_000
    return ["(file given)", "baseline: ffmpeg -ss T -i file -c copy -frames:v 1 pipe:",
            len(samples), *stats_ms(times)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cameras", type=int, default=20)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--baseline-samples", type=int, default=None,
                   help="naive ffmpeg seeks (default: as many as --samples)")
    p.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"],
                   choices=["sqlite", "postgresql"])
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--db-url", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args)
        return 0
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  {command_line()}")
    print(f"# {machine()}; {code_version()}")
    rng = random.Random(args.seed)
    now_us = time.time_ns() // 1000
    per_camera = args.days * 1440
    base_us = (now_us - per_camera * SEGMENT_US) // SEGMENT_US * SEGMENT_US
    samples = []
    for _ in range(args.samples):
        cam = rng.randrange(args.cameras)
        k = rng.randrange(per_camera)
        samples.append(Sample(cam, base_us + k * SEGMENT_US + rng.randrange(SEGMENT_US), k))
    work = Path(tempfile.mkdtemp(prefix="guetteur-bench-seek-"))
    rows: list[list] = []
    try:
        segment, init_size = make_segment_file(work)
        print(f"# segment file: 60 s, {segment.stat().st_size} bytes, init {init_size} bytes; "
              f"{args.cameras} cameras x {args.days} days = {args.cameras * per_camera} rows",
              flush=True)
        for backend in args.backends:
            if backend == "sqlite":
                rows += run_backend("sqlite", f"sqlite:///{work / 'sqlite' / 'guetteur.db'}",
                                    work, segment, init_size, samples, args, base_us)
                continue
            import psycopg

            db = f"guetteur_bench_{uuid.uuid4().hex[:10]}"
            try:
                with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'CREATE DATABASE "{db}"')
            except psycopg.OperationalError as exc:
                print(f"# postgresql: skipped, not reachable at {PG_ADMIN_URL}: {exc}")
                continue
            try:
                rows += run_backend("postgresql", PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{db}",
                                    work, segment, init_size, samples, args, base_us)
            finally:
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        n_base = args.baseline_samples if args.baseline_samples is not None else args.samples
        if n_base:
            rows.append(baseline(segment, samples[:n_base], base_us))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(["database", "what", "seeks", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows))
    print("# target: p99 of the HTTP seek < 300 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
