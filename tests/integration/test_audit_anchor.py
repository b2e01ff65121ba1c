"""The audit trail against its signed checkpoints, on a real database and real files, laid out
as in production: the audit key and the anchor directory outside the data directory.

Deleting the newest event, the newest 50 or all of them, and rewriting the whole chain with the
key a data-directory holder can derive, are named by `audit verify` (service, CLI, API); an
altered, replaced or removed checkpoint file is detected; checkpoints are written on the clock
and the event count; two writers never corrupt the checkpoint sequence; a trail from before
checkpoints goes on verifying.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from starlette.testclient import TestClient

from guetteur.adapters.audit_anchor import AuditKey
from guetteur.adapters.secrets import SecretBox
from guetteur.bootstrap import Container
from guetteur.domain.audit import GENESIS, event_hash
from guetteur.domain.audit_anchor import check_sequence
from guetteur.domain.clock import FakeClock
from guetteur.services.audit import AuditLog
from support import REPO

T0 = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z
SECRET_KEY = "test-secret-key-0123456789-abcdefghij"  # what make_container puts in the settings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def outside(tmp_path: Path) -> dict[str, Path]:
    return {"audit_key_file": tmp_path / "etc" / "audit-ed25519.pem",
            "audit_anchor_dir": tmp_path / "ancrage"}


@pytest.fixture
def c(any_db_url: str, make_container: Any, clock: FakeClock,
      outside: dict[str, Path]) -> Container:
    return make_container(any_db_url, clock=clock, **outside)


def append(c: Container, clock: FakeClock, n: int) -> None:
    for i in range(n):
        clock.advance(1)
        c.audit.append("playback", user_id=1, username="agent", camera_id=1,
                       client_addr="10.0.0.1", detail={"i": i})


def anchored(c: Container, clock: FakeClock, *batches: int) -> None:
    """Append each batch of events, then write a checkpoint after it."""
    for n in batches:
        append(c, clock, n)
        assert c.checkpoints.tick(final=True) is not None


def sql(c: Container, statement: str, **params: Any) -> None:
    with c.engine.begin() as conn:
        conn.execute(text(statement), params)


def cli(c: Container, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUETTEUR_")}
    env.update({"GUETTEUR_DATABASE_URL": c.settings.db_url, "GUETTEUR_SECRET_KEY": SECRET_KEY,
                "GUETTEUR_DATA_DIR": str(c.settings.data_dir),
                "GUETTEUR_AUDIT_KEY_FILE": str(c.settings.audit_key_path),
                "GUETTEUR_AUDIT_ANCHOR_DIR": str(c.settings.audit_anchor_path),
                "PYTHONPATH": str(REPO / "src")})
    return subprocess.run([sys.executable, "-m", "guetteur", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def problem(c: Container) -> str:
    report = c.checkpoints.verify(c.settings.db_url)
    assert not report.ok and report.anchor is not None and report.anchor.problem
    return report.anchor.problem


# -- deleting the newest events ---------------------------------------------------------------

@pytest.mark.parametrize(("deleted", "words"), [
    ("last", ["1 événement manquant après le point de contrôle n° 2", "s'arrête au n° 119",
              "l'événement n° 120 a été supprimé"]),
    ("last-50", ["50 événements manquants après le point de contrôle n° 2",
                 "avant le point de contrôle n° 3", "les événements n° 71 à 120"]),
    ("all", ["journal vide alors que le point de contrôle n° 3 atteste 120 événements",
             "tous les événements ont été supprimés"]),
])
def test_deleting_the_newest_events_is_named(c: Container, clock: FakeClock, tmp_path: Path,
                                             deleted: str, words: list[str]) -> None:
    anchored(c, clock, 60, 60)
    assert c.checkpoints.verify(c.settings.db_url).ok
    since = {"last": 119, "last-50": 70, "all": 0}[deleted]
    sql(c, "DELETE FROM audit_event WHERE id > :k", k=since)
    # the hash chain alone cannot see it: what is left is a well-formed chain
    chain = c.checkpoints.verify(c.settings.db_url)
    assert chain.first_bad_id is None and not chain.ok
    found = problem(c)
    for w in words:
        assert w in found, found

    res = cli(c, "audit", "verify", "--json", cwd=tmp_path)
    assert res.returncode == 3, (res.stdout, res.stderr)
    out = json.loads(res.stdout)
    assert out["ok"] is False and out["first_bad_id"] is None
    assert words[0] in out["anchor"]["problem"]
    res = cli(c, "audit", "verify", cwd=tmp_path)
    assert res.returncode == 3 and "ALTÉRATION" in res.stdout and words[0] in res.stdout


def test_a_server_never_signs_over_a_truncated_trail(c: Container, clock: FakeClock) -> None:
    """Events deleted after checkpoint #2: the checkpointer refuses to write #3 over the rest
    (it would make the deletion look normal) and says why."""
    anchored(c, clock, 60)
    sql(c, "DELETE FROM audit_event WHERE id > 50")
    append(c, clock, 5)
    assert c.checkpoints.tick(final=True) is None
    assert c.checkpoints.problem is not None and "n° 60" in c.checkpoints.problem
    assert c.checkpoints.anchor.numbers() == [1, 2]


# -- rewriting the whole chain ----------------------------------------------------------------

def rewrite_chain(c: Container, key: bytes) -> None:
    """Edit event 10 and recompute every hash and link with `key`, as someone who holds the
    data directory and has `key` would (links set in a second pass: prev_hash is UNIQUE)."""
    with c.engine.begin() as conn:
        rows = conn.execute(text("SELECT id, at_utc_us, user_id, username, action, camera_id, "
                                 "range_from_utc_us, range_to_utc_us, client_addr, detail, "
                                 "reason FROM audit_event ORDER BY id")).all()
        prev, links = GENESIS, []
        for r in rows:
            username = "mallory" if r.id == 10 else r.username
            digest = event_hash(prev, r.at_utc_us, r.user_id, username, r.action, r.camera_id,
                                r.range_from_utc_us, r.range_to_utc_us, r.client_addr,
                                r.detail, r.reason, key=key)
            conn.execute(text("UPDATE audit_event SET username = :u, hash = :h, "
                              "prev_hash = :t WHERE id = :i"),
                         {"u": username, "h": digest, "t": f"tmp-{r.id}", "i": r.id})
            links.append((r.id, prev))
            prev = digest
        for event_id, link in links:
            conn.execute(text("UPDATE audit_event SET prev_hash = :p WHERE id = :i"),
                         {"p": link, "i": event_id})


def test_a_chain_rewritten_with_the_data_directory_s_key_is_detected(
        c: Container, clock: FakeClock) -> None:
    """The chain key used to be derived from the secret key, which sits in the data
    directory's guetteur.env: recomputing the chain with it no longer verifies, and the
    signed checkpoints do not match the rewritten head."""
    anchored(c, clock, 30, 30)
    data_dir_key = SecretBox(SECRET_KEY).derive(b"audit-chain")
    assert data_dir_key != c.audit.key
    assert not c.settings.audit_key_path.is_relative_to(c.settings.data_dir.resolve())
    rewrite_chain(c, data_dir_key)
    report = c.checkpoints.verify(c.settings.db_url)
    assert not report.ok and report.first_bad_id == 1 and "modified" in report.problem
    assert report.anchor is not None and report.anchor.problem is not None
    assert "chaîne réécrite" in report.anchor.problem


def test_a_chain_recomputed_with_the_chain_key_itself_fails_the_checkpoints(
        c: Container, clock: FakeClock, tmp_path: Path) -> None:
    """Even someone who got hold of the chain's HMAC key cannot sign checkpoints: every hash
    verifies, the checkpoints name the rewrite."""
    anchored(c, clock, 30, 30)
    rewrite_chain(c, c.audit.key)
    report = c.checkpoints.verify(c.settings.db_url)
    assert report.first_bad_id is None and not report.ok
    assert report.anchor is not None and report.anchor.problem == (
        "l'empreinte du point de contrôle n° 2 ne correspond pas à l'événement n° 30 : chaîne "
        "réécrite (dernier point de contrôle concordant : n° 1)")
    res = cli(c, "audit", "verify", cwd=tmp_path)
    assert res.returncode == 3 and "chaîne réécrite" in res.stdout


def test_a_verifier_with_only_the_public_key(c: Container, clock: FakeClock,
                                             tmp_path: Path) -> None:
    """`audit public-key` gives the key to keep apart; `audit verify --public-key` checks the
    links and the checkpoints without the private key (none is created for it)."""
    anchored(c, clock, 30, 30)
    res = cli(c, "audit", "public-key", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert c.checkpoints.key.fingerprint() in res.stderr
    public = tmp_path / "audit-public.pem"
    public.write_text(res.stdout)
    c.settings.audit_key_path.rename(tmp_path / "elsewhere.pem")  # the verifier has no key

    res = cli(c, "audit", "verify", "--public-key", str(public), cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "liens seulement" in res.stdout and "n° 3" in res.stdout
    sql(c, "DELETE FROM audit_event WHERE id > 40")
    res = cli(c, "audit", "verify", "--public-key", str(public), "--json", cwd=tmp_path)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "20 événements manquants" in json.loads(res.stdout)["anchor"]["problem"]
    assert not c.settings.audit_key_path.exists()


# -- the anchor files themselves --------------------------------------------------------------

def test_an_altered_or_re_signed_checkpoint_file_is_detected(c: Container,
                                                            clock: FakeClock) -> None:
    anchored(c, clock, 10, 10, 10)
    anchor = c.checkpoints.anchor
    path = anchor.file(2)
    doc = json.loads(path.read_text())
    doc["checkpoint"]["events"] = 9
    path.chmod(0o644)
    path.write_text(json.dumps(doc))
    assert "point de contrôle n° 2 altéré : signature invalide" in problem(c)

    other = AuditKey(Ed25519PrivateKey.generate())  # a forger's own key
    body = json.dumps(doc["checkpoint"], sort_keys=True, separators=(",", ":")).encode()
    import base64

    doc["signature"] = base64.b64encode(other.sign(body)).decode()
    path.write_text(json.dumps(doc))
    assert "point de contrôle n° 2 altéré : signature invalide" in problem(c)
    report = c.checkpoints.verify(c.settings.db_url)
    assert report.anchor is not None and report.anchor.newest is not None
    assert report.anchor.newest.seq == 1  # only what is sound is trusted


def test_removed_checkpoint_files(c: Container, clock: FakeClock, make_container: Any,
                                  outside: dict[str, Path]) -> None:
    """A checkpoint removed in the middle is named; removing the newest is what no check can
    see, but the running server notices its own newest vanished, and an anchor directory
    emptied beside a trail chained with the audit key is not silently started afresh."""
    anchored(c, clock, 10, 10, 10)
    anchor = c.checkpoints.anchor
    anchor.file(2).unlink()
    assert "point de contrôle n° 2 manquant (le suivant présent est le n° 3)" in problem(c)

    anchor.file(4).unlink()  # the newest: the report only shows an older newest checkpoint
    anchor.file(3).unlink()
    report = c.checkpoints.verify(c.settings.db_url)
    assert report.ok and report.anchor is not None and report.anchor.unanchored_events == 30
    append(c, clock, 1)
    assert c.checkpoints.tick(final=True) is None
    assert "n° 4 a disparu" in (c.checkpoints.problem or "")

    shutil.rmtree(anchor.path)
    again = make_container(c.settings.db_url, clock=clock, **outside)
    assert again.checkpoints.problem is not None
    assert "dossier d'ancrage est vide" in again.checkpoints.problem
    assert anchor.numbers() == []  # no fresh #1 covering whatever the trail now holds
    assert "aucun point de contrôle" in problem(again)


# -- when checkpoints are written -------------------------------------------------------------

def test_checkpoints_follow_the_event_count_and_the_clock(c: Container,
                                                          clock: FakeClock) -> None:
    cps = c.checkpoints
    assert (cps.every_events, cps.interval_s) == (100, 300)
    assert cps.anchor.numbers() == [1]  # written at build, over the empty trail
    append(c, clock, 99)  # 99 s pass too
    assert cps.tick() is None
    append(c, clock, 1)
    cp = cps.tick()
    assert cp is not None and (cp.seq, cp.events, cp.last_id) == (2, 100, 100)
    append(c, clock, 5)
    clock.advance(293)
    assert cps.tick() is None  # 298 s since #2
    clock.advance(2)
    cp = cps.tick()
    assert cp is not None and (cp.seq, cp.events) == (3, 105)
    clock.advance(3599)
    assert cps.tick() is None and cps.tick(final=True) is None  # nothing new
    clock.advance(1)
    cp = cps.tick()  # an hourly checkpoint even when idle: its age stays meaningful
    assert cp is not None and (cp.seq, cp.events) == (4, 105)
    append(c, clock, 1)
    cp = cps.tick(final=True)  # at shutdown
    assert cp is not None and (cp.seq, cp.events) == (5, 106)


def test_the_report_gives_the_newest_checkpoint_s_age_and_what_is_not_anchored(
        c: Container, clock: FakeClock, tmp_path: Path) -> None:
    anchored(c, clock, 20)
    append(c, clock, 3)
    clock.advance(7 * 60 - 3)
    report = c.checkpoints.verify(c.settings.db_url)
    assert report.ok and report.anchor is not None
    assert report.anchor.age_s == 420 and report.anchor.unanchored_events == 3
    data = report.public()["anchor"]
    assert data["newest"]["seq"] == 2 and data["newest"]["age"] == "7 min"
    assert data["summary"] == (
        "dernier point de contrôle : n° 2, il y a 7 min, 20 événements jusqu'au n° 20 ; 3 "
        "événement(s) écrit(s) depuis, pas encore ancré(s) (une suppression de ceux-ci ne "
        "serait pas détectée)")

    res = cli(c, "audit", "verify", cwd=tmp_path)  # the real clock: days after T0
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Ancrage : dernier point de contrôle : n° 2, il y a " in res.stdout


def test_the_auditor_s_verification_shows_the_checkpoint(c: Container,
                                                         clock: FakeClock) -> None:
    from guetteur.web.app import create_app
    from guetteur.web.session import COOKIE

    auditor = c.accounts.add_user("auditrice", "Aud1teur-l0ng-password", "auditor")
    anchored(c, clock, 5)
    with TestClient(create_app(c, run_background=False)) as client:
        token = c.accounts.open_session(auditor, "testclient")
        client.cookies.set(COOKIE, token)
        client.headers["x-csrf-token"] = c.accounts.session(token).csrf_token  # type: ignore[union-attr]
        out = client.post("/api/audit/verify").json()
        assert out["ok"] is True and out["anchor"]["newest"]["seq"] == 2
        sql(c, "DELETE FROM audit_event WHERE id > 2")
        out = client.post("/api/audit/verify").json()
        assert out["ok"] is False
        assert "3 événements manquants" in out["anchor"]["problem"]


# -- several writers --------------------------------------------------------------------------

WRITER = """
import sys
from guetteur.bootstrap import build
from guetteur.settings import Settings

url, data_dir, key_file, anchor_dir, rounds = sys.argv[1:6]
c = build(Settings(_env_file=None, database_url=url, data_dir=data_dir,
                   secret_key="test-secret-key-0123456789-abcdefghij",
                   audit_key_file=key_file, audit_anchor_dir=anchor_dir))
wrote = 0
for i in range(int(rounds)):
    c.audit.append("process_write", username="process", detail={"seq": i})
    wrote += c.checkpoints.tick(final=True) is not None
print(wrote)
c.close()
"""


def test_two_writers_never_corrupt_the_checkpoints(sqlite_url: str, make_container: Any,
                                                   outside: dict[str, Path],
                                                   tmp_path: Path) -> None:
    """Another process and two threads here (each with its own checkpointer) append and
    checkpoint at once: the numbers stay consecutive, each follows the one before, all are
    signed, and the trail verifies against them."""
    c = make_container(sqlite_url, **outside)
    rounds = 40
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, sqlite_url, str(tmp_path / "proc"),
         str(outside["audit_key_file"]), str(outside["audit_anchor_dir"]), str(rounds)],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    second = make_container(sqlite_url, **outside).checkpoints  # a second checkpointer
    wrote = {"a": 0, "b": 0}

    def work(name: str, checkpointer: Any) -> None:
        for i in range(rounds):
            c.audit.append("thread_write", username=name, detail={"seq": i})
            wrote[name] += checkpointer.tick(final=True) is not None

    workers = [threading.Thread(target=work, args=("a", c.checkpoints), name="cp-a"),
               threading.Thread(target=work, args=("b", second), name="cp-b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert c.checkpoints.problem is None and second.problem is None

    entries = c.checkpoints.anchor.read_all(c.checkpoints.key.public)
    valid, bad = check_sequence(entries)
    assert bad is None and len(valid) == 1 + wrote["a"] + wrote["b"] + int(out)
    assert wrote["a"] and wrote["b"] and int(out)
    c.checkpoints.tick(final=True)
    report = c.checkpoints.verify(sqlite_url)
    assert report.ok, report
    assert report.anchor is not None and report.anchor.newest is not None
    assert report.anchor.newest.events == 3 * rounds and report.anchor.unanchored_events == 0
    assert [p for p in c.checkpoints.anchor.path.iterdir() if p.name.startswith(".")] == []


# -- a trail from before checkpoints ----------------------------------------------------------

def test_a_trail_from_before_checkpoints_goes_on_verifying(sqlite_url: str, make_container: Any,
                                                           clock: FakeClock,
                                                           outside: dict[str, Path]) -> None:
    """Events chained with the old key (from the secret key) are attested by checkpoint #1
    when the upgraded server first starts; later events use the audit key's chain key."""
    first = make_container(sqlite_url, clock=clock, **outside)
    shutil.rmtree(outside["audit_anchor_dir"])  # as before this version: no key, no anchor
    outside["audit_key_file"].unlink()
    old = AuditLog(first.sessions, clock, SecretBox(SECRET_KEY).derive(b"audit-chain"))
    for i in range(8):
        old.append("login", username=f"agent{i}")

    upgraded = make_container(sqlite_url, clock=clock, **outside)
    assert upgraded.checkpoints.problem is None
    assert upgraded.checkpoints.legacy_until_id == 8
    append(upgraded, clock, 4)
    upgraded.checkpoints.tick(final=True)
    report = upgraded.checkpoints.verify(sqlite_url)
    assert report.ok and report.events == 12, report
    sql(upgraded, "UPDATE audit_event SET username = 'mallory' WHERE id = 3")
    report = upgraded.checkpoints.verify(sqlite_url)
    assert report.first_bad_id == 3 and "modified" in report.problem


# -- the server ------------------------------------------------------------------------------

def test_the_server_anchors_the_events_of_its_run_at_shutdown(tmp_path: Path) -> None:
    """`guetteur serve` with zero audit configuration (development): the key and the anchor
    are generated under the data directory with a warning; the events written while it ran
    (here by a CLI command beside it) are in a checkpoint written when it stops."""
    from support import ServerProcess

    server = ServerProcess(tmp_path / "var")
    server.start()
    try:
        res = server.cli("user", "add", "chef", "--role", "admin",
                         stdin="a-long-and-private-passphrase\n")
        assert res.returncode == 0, res.stderr
    finally:
        server.stop()  # SIGTERM: uvicorn stops, then the lifespan's shutdown runs
    anchor = tmp_path / "var" / "audit-anchor"
    assert sorted(p.name for p in anchor.iterdir()) == ["000000000001.json",
                                                        "000000000002.json"]
    assert json.loads((anchor / "000000000002.json").read_text())["checkpoint"]["events"] >= 1
    log = server.log.read_text()
    assert "inside the data directory" in log and "production needs" in log
    res = server.cli("audit", "verify")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Ancrage : dernier point de contrôle : n° 2" in res.stdout
