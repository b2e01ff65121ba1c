"""Login throttling through the real app (TestClient over SQLite, PostgreSQL where marked; a
FakeClock moves time): an outsider cannot lock an operator out, unknown / wrong / throttled
logins look and take alike, the address limit, the account alert, wrong second-factor codes,
two app instances on one database sharing the counters, the audited unlock (API and CLI).
Client addresses are distinct TestClient peers, as uvicorn gives them (directly or from a
trusted proxy's X-Forwarded-For)."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from guetteur.adapters.db.models import AuditEvent
from guetteur.bootstrap import Container
from guetteur.domain.clock import FakeClock
from guetteur.domain.throttle import FOREVER_UTC_US
from guetteur.web.app import create_app
from guetteur.web.routes_auth import ADDRESS_LIMITED, BAD_LOGIN, CODES_BLOCKED
from guetteur.web.session import COOKIE
from support import ServerProcess, totp_code

T0 = 1_795_638_600_000_000
S = 1_000_000
SECRET_KEY = "test-secret-key-0123456789-abcdefghij"
PASSWORDS = {"operateur": "Op3rateur-l0ng-password", "admin": "Adm1n-l0ng-password",
             "auditrice": "Aud1trice-l0ng-password"}
OUTSIDER, DESK, OTHER_DESK = "198.51.100.66", "10.20.0.11", "10.20.0.12"


@dataclass
class Env:
    c: Container
    app: Any
    clock: FakeClock

    def client(self, addr: str) -> TestClient:
        return TestClient(self.app, client=(addr, 40000))

    def login(self, name: str, password: str | None = None, addr: str = DESK) -> Any:
        return self.client(addr).post("/login", data={
            "username": name, "password": password or PASSWORDS[name]},
            follow_redirects=False)

    def audit(self, *actions: str) -> list[AuditEvent]:
        with self.c.sessions() as db:
            return list(db.scalars(select(AuditEvent).where(AuditEvent.action.in_(actions))
                                   .order_by(AuditEvent.id)))

    def admin(self) -> TestClient:
        token = self.c.accounts.open_session(self.c.accounts.principal_of("admin"), DESK)
        client = self.client(DESK)
        client.cookies.set(COOKIE, token)
        info = self.c.accounts.session(token)
        assert info is not None
        client.headers["x-csrf-token"] = info.csrf_token
        return client


def _env(c: Container, clock: FakeClock, users: bool = True) -> Env:
    if users:
        for name, role in (("operateur", "operator"), ("admin", "admin"),
                           ("auditrice", "auditor")):
            c.accounts.add_user(name, PASSWORDS[name], role)
    return Env(c, create_app(c, run_background=False), clock)


@pytest.fixture
def env(sqlite_url: str, make_container: Any) -> Iterator[Env]:
    clock = FakeClock(T0)
    yield _env(make_container(sqlite_url, clock=clock), clock)


def _wrong(env: Env, name: str, times: int, addr: str) -> None:
    for _ in range(times):
        r = env.login(name, "not-the-password-123", addr)
        assert r.status_code == 401, r.status_code


# -- an outsider cannot lock an operator out --------------------------------------------------

def test_an_outsider_s_wrong_passwords_do_not_stop_the_operator_elsewhere(env: Env) -> None:
    _wrong(env, "auditrice", 20, OUTSIDER)
    # from the operator's own workstation: logs in at once
    r = env.login("auditrice", addr=DESK)
    assert r.status_code == 303 and r.headers["location"] == "/audit"
    # the outsider's pair is throttled: even the right password is refused, generically
    r = env.login("auditrice", addr=OUTSIDER)
    assert r.status_code == 401 and BAD_LOGIN in r.text
    assert COOKIE not in r.headers.get("set-cookie", "")
    failed = env.audit("login_failed")
    # attempts refused while the pair blocks are not counted: 5 failures, then one a block
    assert [json.loads(e.detail)["failures"] for e in failed] == [1, 2, 3, 4, 5]
    assert all(e.client_addr == OUTSIDER and "not-the-password" not in e.detail
               for e in failed)
    [blocked] = env.audit("login_blocked")
    detail = json.loads(blocked.detail)
    assert (detail["kind"], detail["blocked_until_utc_us"]) == ("pair", T0 + 30 * S)
    assert len(env.audit("login_throttled")) == 16  # 15 wrong + the right one, refused

    # exponential backoff for that pair only: 30 s, then 60 s after the next failure
    env.clock.advance(30)
    _wrong(env, "auditrice", 1, OUTSIDER)
    env.clock.advance(59)
    assert env.login("auditrice", addr=OUTSIDER).status_code == 401
    env.clock.advance(1)
    r = env.login("auditrice", addr=OUTSIDER)
    assert r.status_code == 303  # the block ran out; a success clears the pair
    assert [json.loads(e.detail)["blocked_until_utc_us"] for e in env.audit("login_blocked")] \
        == [T0 + 30 * S, T0 + 90 * S]


def test_unknown_wrong_and_throttled_logins_answer_alike(env: Env) -> None:
    _wrong(env, "auditrice", 5, OUTSIDER)  # this pair now blocks
    cases = {"unknown": ("personne", "not-the-password-123"),
             "wrong": ("auditrice", "not-the-password-123", ),
             "throttled": ("auditrice", PASSWORDS["auditrice"])}
    bodies, times = {}, {}
    for _round in range(7):
        for case, (name, password) in cases.items():
            addr = OUTSIDER if case == "throttled" else f"203.0.113.{_round + 10}"
            started = time.perf_counter()
            r = env.login(name, password, addr)
            times.setdefault(case, []).append(time.perf_counter() - started)
            assert r.status_code == 401, case
            bodies[case] = r.text.replace(f'value="{name}"', 'value="NAME"')
    assert bodies["unknown"] == bodies["wrong"] == bodies["throttled"]
    assert BAD_LOGIN in bodies["unknown"]
    medians = {case: statistics.median(t) for case, t in times.items()}
    slowest, fastest = max(medians.values()), min(medians.values())
    assert slowest < fastest * 1.6, medians  # each runs one argon2 verification


# -- the address limit and the account alert ---------------------------------------------------

def test_many_accounts_tried_from_one_address_are_slowed_down_there(env: Env) -> None:
    for i in range(30):
        assert env.login(f"agent{i}", "not-the-password-123", OUTSIDER).status_code == 401
    r = env.login("auditrice", addr=OUTSIDER)  # even a right password, from there
    assert r.status_code == 429 and ADDRESS_LIMITED in r.text
    [limited] = env.audit("login_rate_limited")
    assert (limited.username, limited.client_addr) == ("auditrice", OUTSIDER)
    assert json.loads(env.audit("login_blocked")[-1].detail)["kind"] == "address"
    assert env.login("auditrice", addr=DESK).status_code == 303
    env.clock.advance(60)
    assert env.login("auditrice", addr=OUTSIDER).status_code == 303


def test_an_account_attacked_from_everywhere_raises_an_alert_but_stays_open(env: Env) -> None:
    for i in range(10):  # 50 failures from 10 addresses: under every per-address limit
        _wrong(env, "auditrice", 5, f"192.0.2.{i + 1}")
    [alert] = env.audit("login_alert")
    assert alert.username == "auditrice" and json.loads(alert.detail)["failures"] == 50
    assert env.login("auditrice", addr=DESK).status_code == 303
    users = {u["username"]: u for u in env.admin().get("/api/users").json()}
    assert users["auditrice"]["login_failures"] == 50


# -- the second factor -------------------------------------------------------------------------

def _enrol(env: Env, name: str) -> str:
    uid = env.c.accounts.principal_of(name).user_id
    secret, _ = env.c.accounts.begin_enrolment(uid)
    assert env.c.accounts.check_totp(uid, totp_code(secret, env.clock.now_us()), True)
    env.clock.advance(30)
    return secret


def _wrong_code(secret: str, now_us: int) -> str:
    window = {totp_code(secret, now_us + d * S) for d in (-30, 0, 30)}
    return next(f"{i:06d}" for i in range(4) if f"{i:06d}" not in window)


def _pending(env: Env, addr: str) -> TestClient:
    r = env.login("operateur", addr=addr)
    assert r.status_code == 303 and r.headers["location"].startswith("/login/mfa"), r.text[:200]
    client = env.client(addr)
    client.cookies.set(COOKIE, r.cookies[COOKIE])
    info = env.c.accounts.session(r.cookies[COOKIE])
    assert info is not None
    client.headers["x-csrf-token"] = info.csrf_token
    return client


def test_wrong_codes_are_throttled_per_account(env: Env) -> None:
    secret = _enrol(env, "operateur")
    client = _pending(env, OUTSIDER)  # someone who has the password
    for _ in range(4):
        r = client.post("/login/mfa", data={"code": _wrong_code(secret, env.clock.now_us())})
        assert r.status_code == 401
    r = client.post("/login/mfa", data={"code": _wrong_code(secret, env.clock.now_us())})
    assert r.status_code == 429 and CODES_BLOCKED in r.text
    assert client.get("/api/cameras").status_code == 401  # the pending session ended
    [blocked] = env.audit("mfa_blocked")
    assert json.loads(blocked.detail)["blocked_until_utc_us"] == T0 + 30 * S + 300 * S
    # the pair is throttled too: the password step from there is refused, generically
    assert env.login("operateur", addr=OUTSIDER).status_code == 401
    # per account: from another address, the right code is refused until the block ends
    other = _pending(env, DESK)
    r = other.post("/login/mfa", data={"code": totp_code(secret, env.clock.now_us())})
    assert r.status_code == 429 and CODES_BLOCKED in r.text
    assert env.audit("mfa_throttled")
    env.clock.advance(300)
    other = _pending(env, DESK)
    r = other.post("/login/mfa", data={"code": totp_code(secret, env.clock.now_us())},
                   follow_redirects=False)
    assert r.status_code == 303
    assert other.get("/api/cameras").status_code == 200


def test_twenty_wrong_codes_block_the_second_factor_until_an_unlock(env: Env) -> None:
    """With at most 20 wrong codes ever tried (3 codes accepted per try: one step either
    side), guessing the 10^6 space succeeds with probability <= 6e-5, whatever the number of
    addresses the guesser has."""
    secret = _enrol(env, "operateur")
    for i in range(25):  # a new address each time, each block waited out
        client = _pending(env, f"198.51.100.{i + 1}")
        while client.post("/login/mfa", data={
                "code": _wrong_code(secret, env.clock.now_us())}).status_code == 401:
            pass
        env.clock.advance(3600)
    assert len(env.audit("mfa_failed")) == 20  # codes actually checked, ever
    # 5 codes in the first round, one in each of the next 15; the last 9 rounds were refused
    assert len(env.audit("mfa_throttled")) == 9
    assert env.c.login.throttle.code_blocked_until("operateur") == FOREVER_UTC_US
    env.clock.advance(30 * 24 * 3600)
    client = _pending(env, DESK)
    assert client.post("/login/mfa", data={
        "code": totp_code(secret, env.clock.now_us())}).status_code == 429
    uid = env.c.accounts.principal_of("operateur").user_id
    assert env.admin().post(f"/api/users/{uid}/unlock").status_code == 200
    client = _pending(env, DESK)
    r = client.post("/login/mfa", data={"code": totp_code(secret, env.clock.now_us())},
                    follow_redirects=False)
    assert r.status_code == 303


# -- shared by every web process ---------------------------------------------------------------

def test_two_app_instances_on_one_database_share_the_throttle(any_db_url: str,
                                                             make_container: Any) -> None:
    clock = FakeClock(T0)
    one = _env(make_container(any_db_url, clock=clock), clock)
    two = _env(make_container(any_db_url, clock=clock), clock, users=False)
    _wrong(one, "auditrice", 3, OUTSIDER)
    _wrong(two, "auditrice", 2, OUTSIDER)  # the 5th failure of the pair, on the other node
    for node in (one, two):
        assert node.login("auditrice", addr=OUTSIDER).status_code == 401
        assert node.login("auditrice", addr=DESK).status_code == 303
    failures = [json.loads(e.detail)["failures"] for e in one.audit("login_failed")]
    assert failures == [1, 2, 3, 4, 5]
    uid = two.c.accounts.principal_of("auditrice").user_id
    assert two.admin().post(f"/api/users/{uid}/unlock").status_code == 200
    assert one.login("auditrice", addr=OUTSIDER).status_code == 303


# -- unlock ------------------------------------------------------------------------------------

def test_unlock_from_the_administration_api_clears_the_throttle_and_is_audited(
        env: Env) -> None:
    _wrong(env, "auditrice", 6, OUTSIDER)
    _wrong(env, "auditrice", 5, OTHER_DESK)
    admin = env.admin()
    users = {u["username"]: u for u in admin.get("/api/users").json()}
    assert users["auditrice"]["blocked_until_utc_us"] == T0 + 30 * S
    assert users["auditrice"]["login_failures"] == 10
    assert users["operateur"]["blocked_until_utc_us"] is None
    uid = users["auditrice"]["id"]

    operator = env.client(DESK)
    token = env.c.accounts.open_session(env.c.accounts.principal_of("operateur"), DESK)
    operator.cookies.set(COOKIE, token)
    operator.headers["x-csrf-token"] = env.c.accounts.session(token).csrf_token  # type: ignore[union-attr]
    assert operator.post(f"/api/users/{uid}/unlock").status_code == 403
    no_csrf = env.client(DESK)
    no_csrf.cookies.set(COOKIE, admin.cookies[COOKIE])
    assert no_csrf.post(f"/api/users/{uid}/unlock").status_code == 403

    r = admin.post(f"/api/users/{uid}/unlock")
    assert r.status_code == 200
    assert (r.json()["blocked_until_utc_us"], r.json()["login_failures"]) == (None, 0)
    [event] = env.audit("user_unlock")
    assert event.username == "admin"
    detail = json.loads(event.detail)
    assert detail["user"] == "auditrice"
    assert {(x["kind"], x["client_addr"]) for x in detail["cleared"]} == {
        ("pair", OUTSIDER), ("pair", OTHER_DESK), ("account", None)}
    assert env.login("auditrice", addr=OUTSIDER).status_code == 303
    assert env.login("auditrice", addr=OTHER_DESK).status_code == 303


def test_the_unlock_command_clears_the_throttle_and_is_audited(env: Env,
                                                              tmp_path: Path) -> None:
    _wrong(env, "auditrice", 5, OUTSIDER)
    cli = ServerProcess(tmp_path / "var", secret_key=SECRET_KEY,
                        database_url=env.c.settings.db_url)
    res = cli.cli("user", "unlock", "auditrice")
    assert res.returncode == 0, res.stderr
    assert "déverrouillé" in res.stdout
    [event] = env.audit("user_unlock")
    assert (event.username, json.loads(event.detail)["user"]) == ("cli", "auditrice")
    assert env.login("auditrice", addr=OUTSIDER).status_code == 303
    res = cli.cli("user", "unlock", "personne")
    assert res.returncode == 1 and "inconnu" in res.stderr


def test_old_counters_are_cleaned_up(env: Env) -> None:
    _wrong(env, "auditrice", 2, OUTSIDER)
    throttle = env.c.login.throttle
    assert throttle.count() == 3  # pair, address, account
    env.clock.advance(2 * 24 * 3600)
    assert throttle.cleanup() == 0
    env.clock.advance(1)
    assert throttle.cleanup() == 3 and throttle.count() == 0


def test_a_burst_of_parallel_guesses_cannot_slip_under_the_threshold(
        any_db_url: str, make_container: Any) -> None:
    """Attempts are counted before they are checked, atomically: of 24 guesses sent at once
    on one pair, exactly the threshold's 5 are let through (SQLite and PostgreSQL)."""
    from concurrent.futures import ThreadPoolExecutor

    c = make_container(any_db_url, clock=FakeClock(T0))
    throttle = c.login.throttle
    with ThreadPoolExecutor(8) as pool:
        tickets = list(pool.map(lambda _: throttle.password_attempt("alice", OUTSIDER),
                                range(24)))
    admitted = [t for t in tickets if not t.refused]
    assert len(admitted) == 5
    assert {t.refused_by for t in tickets if t.refused} == {"pair"}
    assert sorted(next(x.failures for x in t.counted if x.policy.kind == "pair")
                  for t in admitted) == [1, 2, 3, 4, 5]
