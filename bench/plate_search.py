"""Plate search over 10 million synthetic reads (issue 5): exact, wildcard and fuzzy, on SQLite
and PostgreSQL, against naive searches in the same run.

The reads (`_plate_data.py`: SIV, FNI and foreign plates, 3-5 reads a passage with look-alike
and other OCR errors, passages built by the real `passage_from_reads`) are generated once as
tab-separated files, then bulk-loaded into each database through the real tables
(`adapters/db/plate_models.py`): SQLite by `executemany` in one transaction with journal and
sync off, PostgreSQL by COPY with foreign-key triggers off (the data is consistent by
construction). Secondary indexes are built after the load, then statistics (SQLite ANALYZE,
PostgreSQL VACUUM ANALYZE).

Queries, `--queries` of each kind, built from random existing passages: exact (the display),
prefix `AB-1*`, inner `?B-12?-C?`, leading `*-123-*` (SIV passages), fuzzy 1 and fuzzy 2 (the
compact text with 1 or 2 substitutions, half of them look-alikes); each also with a filter:
the source's camera and 2 others, +-1 day around it. Timed: `PlateSearch.search(..., limit=50)`
in this process, the production engine settings (`make_engine`). "found" counts the queries
whose source plate is among the hits (or the hits fill the limit).

Naive baselines, on the first `--baseline-queries` of each unfiltered kind: the same search as
one SQL statement over the passages, `display = ?` or `display LIKE ?` (the pattern as typed,
* -> %, ? -> _), ORDER BY confidence, time, LIMIT 50 — a full scan; and for fuzzy, rapidfuzz
Levenshtein over every distinct plate held in memory (loaded once, not timed; the plates
only, the passages not even fetched: a lower bound).

    .venv/bin/python bench/plate_search.py [--reads 10000000] [--db sqlite|postgresql|both]
                                           [--workdir DIR] [--keep] [--queries 300]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import code_version, command_line, free_disk_gib, machine, percentile, table
from _plate_data import ALNUM, DAY_US, Generated, generate, reuse
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sqlalchemy import Engine, insert, text

from guetteur.adapters.db.engine import make_engine, session_factory
from guetteur.adapters.db.models import (
    PLATE_TABLES,
    Base,
    Camera,
    JudicialCase,
    Partner,
    PlateJob,
)
from guetteur.domain.plates import LOOK_ALIKE_CLASSES, parse_query
from guetteur.services.plate_search import PlateSearch

PG_ADMIN_URL = os.environ.get("GUETTEUR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "guetteur_bench_plates"
TABLES = [Partner.__table__, Camera.__table__, JudicialCase.__table__, PlateJob.__table__,
          *PLATE_TABLES]
SECONDARY = [ix for t in PLATE_TABLES for ix in t.indexes]  # built after the load
FILES = {"plate_key": ("keys.tsv", "id folded folded_rev", "i s s"),
         "plate_gram": ("grams.tsv", "code key_id", "i i"),
         "plate_passage": ("passages.tsv", "id key_id camera_id first_utc_us last_utc_us display "
                           "compact kind confidence reads crop_key case_id job_id",
                           "i i i i i s s s f i n n n"),
         "plate_read": ("reads.tsv", "id passage_id camera_id at_utc_us compact confidence",
                        "i i i i s f")}
KINDS = ["exact", "prefix AB-1*", "inner ?B-12?-C?", "leading *-123-*", "fuzzy 1", "fuzzy 2"]
LIMIT = 50
_LOOK = {c: [x for x in cls if x != c] for cls in LOOK_ALIKE_CLASSES for c in cls}


# ---------------------------------------------------------------------------- loading

def create_schema(url: str, cameras: int, base_us: int) -> None:
    engine = make_engine(url)
    Base.metadata.create_all(engine, tables=TABLES)
    with engine.begin() as conn:
        conn.execute(insert(Camera), [
            {"id": i, "name": f"CAM-{i:03d}", "main_url": f"rtsp://192.0.2.1/{i}",
             "purposes": "[]", "retention_days": 30, "enabled": True, "config_version": 1,
             "created_utc_us": base_us, "updated_utc_us": base_us}
            for i in range(1, cameras + 1)])
        for ix in SECONDARY:
            ix.drop(conn)
    engine.dispose()


def _rows(path: Path, types: str) -> Any:
    """The rows of a file as strings: SQLite's column affinity stores them as the column's
    type (INTEGER, REAL), as it would Python numbers; `\\N` becomes NULL."""
    nulls = "n" in types.split()
    with path.open() as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            yield [None if v == "\\N" else v for v in fields] if nulls else fields


def load_sqlite(db: Path, work: Path) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000",
                   "temp_store=MEMORY", "locking_mode=EXCLUSIVE", "foreign_keys=OFF"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("BEGIN")
    for name, (file, cols, types) in FILES.items():
        marks = ", ".join("?" * len(cols.split()))
        conn.executemany(f"INSERT INTO {name} ({', '.join(cols.split())}) VALUES ({marks})",
                         _rows(work / file, types))
    conn.execute("COMMIT")
    conn.close()


def load_postgresql(url: str, work: Path) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers: bulk load
        conn.execute("SET synchronous_commit = off")
        for name, (file, cols, _) in FILES.items():
            with conn.cursor() as cur, cur.copy(
                    f"COPY {name} ({', '.join(cols.split())}) FROM STDIN") as copy, \
                    (work / file).open("rb") as f:
                while block := f.read(1 << 20):
                    copy.write(block)
        for table_, seq in (("plate_key", "plate_key_id_seq"),
                            ("plate_passage", "plate_passage_id_seq"),
                            ("plate_read", "plate_read_id_seq")):
            conn.execute(f"SELECT setval('{seq}', (SELECT max(id) FROM {table_}))")


def finish(engine: Engine, backend: str) -> tuple[float, float]:
    """Build the secondary indexes, then statistics; returns (index s, statistics s)."""
    t0 = time.perf_counter()
    with engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("SET maintenance_work_mem = '1GB'"))
        for ix in SECONDARY:
            ix.create(conn)
    t1 = time.perf_counter()
    if backend == "sqlite":
        with engine.begin() as conn:
            conn.execute(text("PRAGMA analysis_limit = 1000"))
            conn.execute(text("ANALYZE"))
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return t1 - t0, time.perf_counter() - t1


def size_mib(engine: Engine, backend: str, db: Path | None) -> float:
    if backend == "sqlite":
        assert db is not None
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 2**20
    with engine.connect() as conn:
        return float(conn.execute(text("SELECT pg_database_size(current_database())"))
                     .scalar_one()) / 2**20


# ---------------------------------------------------------------------------- queries

def substitute(rng: random.Random, c: str, n: int) -> str:
    """`c` with n substitutions at distinct places, half of them look-alikes."""
    chars = list(c)
    for i in rng.sample(range(len(chars)), n):
        if rng.random() < 0.5 and chars[i] in _LOOK:
            chars[i] = rng.choice(_LOOK[chars[i]])
        else:
            chars[i] = rng.choice([x for x in ALNUM if x != chars[i] and x not in
                                   _LOOK.get(chars[i], [])])
    return "".join(chars)


def make_cases(engine: Engine, n: int, passages: int, seed: int) -> dict[str, list[tuple]]:
    """kind -> [(query, fuzzy, source row)], from random existing passages."""
    rng = random.Random(seed)
    ids = rng.sample(range(1, passages + 1), min(passages, 6 * n))
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, camera_id, first_utc_us, display, compact, kind FROM plate_passage "
            f"WHERE id IN ({', '.join(map(str, ids))})")).all()
    rows.sort(key=lambda r: ids.index(r.id))
    siv = [r for r in rows if r.kind == "siv"][:n]
    anyk = rows[:n]
    return {
        "exact": [(r.display, 0, r) for r in anyk],
        "prefix AB-1*": [(f"{r.compact[:2]}-{r.compact[2]}*", 0, r) for r in siv],
        "inner ?B-12?-C?": [(f"?{r.compact[1]}-{r.compact[2:4]}?-{r.compact[5]}?", 0, r)
                            for r in siv],
        "leading *-123-*": [(f"*-{r.compact[2:5]}-*", 0, r) for r in siv],
        "fuzzy 1": [(substitute(rng, r.compact, 1), 1, r) for r in anyk],
        "fuzzy 2": [(substitute(rng, r.compact, 2), 2, r) for r in anyk],
    }


def window(r: Any, cameras: int, rng: random.Random) -> dict[str, Any]:
    others = rng.sample([c for c in range(1, cameras + 1) if c != r.camera_id], 2)
    return {"camera_ids": sorted([r.camera_id, *others]),
            "from_utc_us": r.first_utc_us - DAY_US, "to_utc_us": r.first_utc_us + DAY_US}


def timed(cases: list[tuple], run: Callable[[tuple], list[Any]], found: Callable[..., bool]
          ) -> tuple[list[float], list[int], int]:
    for case in cases[:10]:  # warm-up: connections, statement caches
        run(case)
    times, hits, ok = [], [], 0
    for case in cases:
        t0 = time.perf_counter()
        got = run(case)
        times.append(time.perf_counter() - t0)
        hits.append(len(got))
        ok += found(case, got)
    return times, hits, ok


def bench_queries(engine: Engine, backend: str, cases: dict[str, list[tuple]],
                  cameras: int, n_base: int, plates: list[str], seed: int) -> list[list]:
    search = PlateSearch(session_factory(engine))
    rng = random.Random(seed + 1)
    rows = []
    for kind in KINDS:
        kc = [(q, fuzzy, r, window(r, cameras, rng)) for q, fuzzy, r in cases[kind]]
        for filtered in (False, True):
            def run(case: tuple, filtered: bool = filtered) -> list[Any]:
                q, fuzzy, _, kw = case
                return search.search(q, fuzzy=fuzzy, limit=LIMIT, **(kw if filtered else {}))

            def found(case: tuple, got: list[Any]) -> bool:
                return len(got) == LIMIT or any(h.compact == case[2].compact for h in got)

            times, hits, ok = timed(kc, run, found)
            ms = [t * 1000 for t in times]
            base: list[object] = ["", "", ""]
            if not filtered and n_base:
                base = naive(engine, kind, kc[:n_base], plates)
            rows.append([backend, kind, "camera+time" if filtered else "none", len(kc),
                         percentile(ms, 50), percentile(ms, 99), max(ms),
                         sum(hits) / len(hits), f"{100 * ok / len(kc):.0f} %", *base])
            print(f"#   {backend} {kind} filter={filtered}: p99 {percentile(ms, 99):.1f} ms",
                  flush=True)
    return rows


def naive(engine: Engine, kind: str, cases: list[tuple], plates: list[str]) -> list[object]:
    """[p50 ms, p99 ms, mean hits] of the naive search of this kind."""
    if kind.startswith("fuzzy"):
        def run(case: tuple) -> list[Any]:
            q = parse_query(case[0]).pattern
            return process.extract(q, plates, scorer=Levenshtein.distance,
                                   score_cutoff=case[1], limit=None)
    else:
        op = "=" if kind == "exact" else "LIKE"
        sql = text("SELECT id, display, compact, confidence, last_utc_us FROM plate_passage "
                   f"WHERE display {op} :p ORDER BY confidence DESC, last_utc_us DESC "
                   f"LIMIT {LIMIT}")

        def run(case: tuple) -> list[Any]:
            with engine.connect() as conn:
                p = case[0].replace("*", "%").replace("?", "_")
                return list(conn.execute(sql, {"p": p}))
    times, hits, _ = timed(cases, run, lambda *_: True)
    ms = [t * 1000 for t in times]
    return [percentile(ms, 50), percentile(ms, 99), sum(hits) / len(hits)]


# ---------------------------------------------------------------------------- main

def run_backend(backend: str, url: str, work: Path, gen: Generated, args: argparse.Namespace,
                base_us: int, db: Path | None) -> tuple[list, list]:
    create_schema(url, args.cameras, base_us)
    t0 = time.perf_counter()
    if backend == "sqlite":
        assert db is not None
        load_sqlite(db, work)
    else:
        load_postgresql(url, work)
    load_s = time.perf_counter() - t0
    engine = make_engine(url)
    try:
        index_s, stats_s = finish(engine, backend)
        size = size_mib(engine, backend, db)
        print(f"# {backend}: loaded in {load_s:.0f} s, indexes {index_s:.0f} s, statistics "
              f"{stats_s:.0f} s, {size:.0f} MiB", flush=True)
        load_row = [backend, gen.reads, gen.passages, gen.keys, gen.grams, load_s, index_s,
                    stats_s, size]
        cases = make_cases(engine, args.queries, gen.passages, args.seed)
        with engine.connect() as conn:
            plates = list(conn.execute(text("SELECT DISTINCT compact FROM plate_passage"))
                          .scalars())
        rows = bench_queries(engine, backend, cases, args.cameras, args.baseline_queries,
                             plates, args.seed)
        return [load_row], rows
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reads", type=int, default=10_000_000)
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where the generated files and the SQLite database go (default: tmp)")
    p.add_argument("--keep", action="store_true", help="keep the files and the databases")
    p.add_argument("--data", type=Path, default=None,
                   help="reuse the files a previous --keep run generated there (same --reads, "
                        "--cameras, --seed); they are kept")
    p.add_argument("--queries", type=int, default=300, help="queries of each kind")
    p.add_argument("--baseline-queries", type=int, default=30,
                   help="naive queries of each kind (each is a full scan)")
    p.add_argument("--cameras", type=int, default=100)
    p.add_argument("--seed", type=int, default=20261126)
    args = p.parse_args(argv)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}  {command_line()}")
    print(f"# {machine()}; {code_version()}", flush=True)
    reused = reuse(args.data, args.reads, args.cameras, args.seed) if args.data else None
    if args.data and reused is None:
        print(f"# {args.data} holds no data generated with these --reads, --cameras, --seed")
        return 1
    where = args.data or args.workdir or Path(tempfile.gettempdir())
    need_gib = args.reads * 600 / 2**30  # files + both databases: ~450 B a read measured
    if free_disk_gib(where) < need_gib:
        print(f"# not enough disk: {free_disk_gib(where):.1f} GiB free in {where}, "
              f"{need_gib:.1f} GiB needed")
        return 1
    work = args.data or Path(tempfile.mkdtemp(prefix="guetteur-bench-plates-",
                                              dir=args.workdir))
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    base_us = (time.time_ns() // 1000 - 30 * DAY_US) // DAY_US * DAY_US
    keep = args.keep or reused is not None
    load_rows: list[list] = []
    rows: list[list] = []
    try:
        if reused is not None:
            gen, base_us = reused
            (work / "plates.db").unlink(missing_ok=True)
        else:
            gen = generate(work, args.reads, args.cameras, base_us, args.seed)
        print(f"# {'reused' if reused else 'generated'} {gen.reads} reads, {gen.passages} "
              f"passages of {gen.distinct_plates} vehicles, {gen.keys} keys, {gen.grams} "
              f"trigrams in {gen.seconds:.0f} s", flush=True)
        for backend in backends:
            if backend == "sqlite":
                db = work / "plates.db"
                lr, r = run_backend(backend, f"sqlite:///{db}", work, gen, args, base_us, db)
            else:
                import psycopg

                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
                    conn.execute(f'CREATE DATABASE "{PG_DB}"')
                url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DB}"
                try:
                    lr, r = run_backend(backend, url, work, gen, args, base_us, None)
                finally:
                    if not args.keep:
                        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
            load_rows += lr
            rows += r
    finally:
        if keep:
            print(f"# kept: {work}" + (f" and database {PG_DB}" if args.keep
                                        and args.db != "sqlite" else ""))
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(["database", "reads", "passages", "keys", "trigrams", "load s", "index s",
                 "statistics s", "size MiB"], load_rows))
    print()
    print(table(["database", "kind", "filter", "queries", "p50 ms", "p99 ms", "max ms",
                 "mean hits", "found", "naive p50 ms", "naive p99 ms", "naive mean hits"],
                rows))
    print(f"# limit {LIMIT}; naive: display = / LIKE scan (SQL), rapidfuzz over "
          f"{'all distinct plates'} in memory (fuzzy), first {args.baseline_queries} queries")
    print("# target: p99 < 200 ms for every kind")
    return 0


if __name__ == "__main__":
    sys.exit(main())
