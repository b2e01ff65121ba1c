"""The login throttle: counters in the database (table `login_throttle`), so that every web
process of every node shares them. The rules are in `domain/throttle.py`.

An attempt is counted *before* its password or code is checked (`attempt`), in one transaction
that increments every counter of the step with an upsert whose update only applies when the
counter is not blocking: parallel requests each get their own number, so a burst of guesses
sent at once cannot all slip in under the threshold. A refused attempt rolls back and counts
for nothing (retrying while blocked never lengthens the block). When the check then succeeds,
`succeeded` gives the attempt back: the pair (or second-factor) counter is deleted, the
address and account counters lose that one count and any block it alone started.

Works on SQLite and PostgreSQL alike (`INSERT ... ON CONFLICT DO UPDATE ... WHERE ...
RETURNING`). Rows quiet for `CLEANUP_AFTER_S` and not blocking are deleted by `cleanup`,
which `attempt` runs about once every thousand attempts.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import LoginThrottle as Row
from guetteur.domain.clock import Clock
from guetteur.domain.throttle import (
    ACCOUNT,
    ADDRESS,
    CLEANUP_AFTER_S,
    PAIR,
    TOTP,
    Policy,
    S,
    account_key,
    address_key,
    pair_key,
    totp_key,
)


def _insert(db: Session) -> Any:
    """INSERT with ON CONFLICT for the database at hand (both dialects have it)."""
    if db.get_bind().dialect.name == "postgresql":
        return postgresql.insert(Row)
    return sqlite.insert(Row)


@dataclass(frozen=True)
class Counted:
    """One counter after an attempt: its number, the block it had and the one it has now."""

    key: str
    policy: Policy
    failures: int
    prior_until_us: int | None
    until_us: int | None

    @property
    def block_started(self) -> bool:
        return self.until_us is not None and self.until_us != self.prior_until_us

    @property
    def alert(self) -> bool:
        return self.policy.alerts(self.failures)


@dataclass(frozen=True)
class Ticket:
    """An admitted attempt (`refused_until_us` None) or a refused one (blocked until then,
    by the counter of kind `refused_by`)."""

    counted: tuple[Counted, ...] = ()
    refused_by: str | None = None
    refused_until_us: int | None = None

    @property
    def refused(self) -> bool:
        return self.refused_by is not None

    def blocks_started(self) -> list[Counted]:
        return [c for c in self.counted if c.policy.blocks and c.block_started]

    def alerts(self) -> list[Counted]:
        return [c for c in self.counted if not c.policy.blocks and c.alert]


@dataclass(frozen=True)
class AccountThrottle:
    """What the administration page shows of an account: recent failures, current block."""

    failures: int
    blocked_until_utc_us: int | None


class _Refused(Exception):
    def __init__(self, kind: str, until_us: int) -> None:
        self.kind = kind
        self.until_us = until_us


class LoginThrottle:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    # -- the two steps of a login -------------------------------------------------------------
    def password_attempt(self, name: str, addr: str | None) -> Ticket:
        return self._attempt([(pair_key(name, addr), PAIR, name, addr),
                              (address_key(addr), ADDRESS, None, addr),
                              (account_key(name), ACCOUNT, name, None)])

    def code_attempt(self, name: str, addr: str | None) -> Ticket:
        return self._attempt([(totp_key(name), TOTP, name, None),
                              (address_key(addr), ADDRESS, None, addr)])

    def hold_pair(self, name: str, addr: str | None, until_us: int) -> None:
        """Block the pair (name, address) until then at least (after a second-factor block,
        so that the password step from there is refused too)."""
        now = self._clock.now_us()
        key = pair_key(name, addr)
        with self._sessions.begin() as db:
            db.execute(_insert(db).values(
            key=key, kind=PAIR.kind, account=name, client_addr=addr, failures=0,
            first_utc_us=now, last_utc_us=now, blocked_until_utc_us=until_us,
        ).on_conflict_do_update(index_elements=[Row.key], set_={
            "blocked_until_utc_us": case(
                (or_(Row.blocked_until_utc_us.is_(None), Row.blocked_until_utc_us < until_us),
                 until_us), else_=Row.blocked_until_utc_us),
            "last_utc_us": now}))

    def succeeded(self, ticket: Ticket) -> None:
        """The password or code was right: give the attempt back (see the module doc)."""
        with self._sessions.begin() as db:
            for c in ticket.counted:
                if c.policy in (PAIR, TOTP):
                    db.execute(delete(Row).where(Row.key == c.key))
                    continue
                db.execute(update(Row).where(Row.key == c.key).values(
                    failures=case((Row.failures > 0, Row.failures - 1), else_=0),
                    blocked_until_utc_us=case(
                        (Row.blocked_until_utc_us == c.until_us, c.prior_until_us),
                        else_=Row.blocked_until_utc_us)))

    def _attempt(self, counters: Sequence[tuple[str, Policy, str | None, str | None]]) -> Ticket:
        now = self._clock.now_us()
        if secrets.randbelow(1000) == 0:
            self.cleanup()
        try:
            with self._sessions.begin() as db:
                counted = tuple(self._count(db, now, *c) for c in counters)
        except _Refused as refused:  # the transaction rolled back: nothing was counted
            return Ticket(refused_by=refused.kind, refused_until_us=refused.until_us)
        return Ticket(counted)

    @staticmethod
    def _count(db: Session, now: int, key: str, policy: Policy, account: str | None,
               addr: str | None) -> Counted:
        restart = Row.last_utc_us < now - policy.quiet_s * S
        free = or_(Row.blocked_until_utc_us.is_(None), Row.blocked_until_utc_us <= now)
        stmt = _insert(db).values(
            key=key, kind=policy.kind, account=account, client_addr=addr, failures=1,
            first_utc_us=now, last_utc_us=now, blocked_until_utc_us=None,
        ).on_conflict_do_update(
            index_elements=[Row.key],
            set_={"failures": case((restart, 1), else_=Row.failures + 1),
                  "first_utc_us": case((restart, now), else_=Row.first_utc_us),
                  "last_utc_us": now},
            where=free if policy.blocks else None,
        ).returning(Row.failures, Row.blocked_until_utc_us)
        got = db.execute(stmt).first()
        if got is None:  # the update's WHERE refused it: this counter blocks now
            until = db.scalar(select(Row.blocked_until_utc_us).where(Row.key == key))
            raise _Refused(policy.kind, int(until or now))
        failures, prior = int(got[0]), got[1]
        until = policy.blocked_until_us(failures, now)
        if until is not None and prior is not None and prior > until:
            until = prior  # a block never shortens (the hard limit's, say, after a restart)
        if until is not None and until != prior:
            db.execute(update(Row).where(Row.key == key).values(blocked_until_utc_us=until))
        return Counted(key, policy, failures, prior, until if until is not None else prior)

    # -- queries and administration -----------------------------------------------------------
    def code_blocked_until(self, name: str) -> int | None:
        """When the second factor of this account is blocked, until when."""
        now = self._clock.now_us()
        with self._sessions() as db:
            until = db.scalar(select(Row.blocked_until_utc_us).where(Row.key == totp_key(name)))
        return int(until) if until is not None and until > now else None

    def by_account(self) -> dict[str, AccountThrottle]:
        """Per account name: failures counted now (all addresses), latest running block."""
        now = self._clock.now_us()
        result: dict[str, AccountThrottle] = {}
        with self._sessions() as db:
            rows = db.execute(select(Row.account, Row.kind, Row.failures,
                                     Row.blocked_until_utc_us)
                              .where(Row.account.is_not(None))).all()
        for account, kind, failures, until in rows:
            seen = result.get(account, AccountThrottle(0, None))
            count = seen.failures + (failures if kind in ("account", "totp") else 0)
            running = until if until is not None and until > now else None
            latest = max((u for u in (seen.blocked_until_utc_us, running) if u is not None),
                         default=None)
            result[account] = AccountThrottle(count, latest)
        return result

    def clear_account(self, name: str) -> list[dict[str, object]]:
        """Delete every counter of this account name (its pairs with any address, its
        account and second-factor counters); returns what was cleared, for the audit trail."""
        with self._sessions.begin() as db:
            rows = db.execute(select(Row.kind, Row.client_addr, Row.failures,
                                     Row.blocked_until_utc_us)
                              .where(Row.account == name).order_by(Row.key)).all()
            db.execute(delete(Row).where(Row.account == name))
        return [{"kind": k, "client_addr": a, "failures": f, "blocked_until_utc_us": u}
                for k, a, f, u in rows]

    def cleanup(self) -> int:
        """Delete rows quiet for CLEANUP_AFTER_S that block nothing now."""
        now = self._clock.now_us()
        with self._sessions.begin() as db:
            result = db.execute(delete(Row).where(
                Row.last_utc_us < now - CLEANUP_AFTER_S * S,
                or_(Row.blocked_until_utc_us.is_(None), Row.blocked_until_utc_us <= now)))
        return int(getattr(result, "rowcount", 0) or 0)

    def count(self) -> int:
        with self._sessions() as db:
            return int(db.scalar(select(func.count()).select_from(Row)) or 0)
