"""A login, step by step, through the shared throttle, with every outcome in the audit trail.

Password step (`password`): the attempt is counted first (`LoginThrottle`), then checked.
- Unknown name, wrong password, and a pair (name x address) that is blocking all give the same
  outcome `bad`, after the same work (one argon2 verification, one audit append): neither the
  answer nor its timing tells whether a name exists or is throttled.
- A blocking client address gives `limited` (it says nothing about any account).
- A right password on a disabled account gives `disabled` (only the password holder learns it).
Second-factor step (`code`): counted per account (from anywhere) and per address; the run of
wrong codes that starts a block ends the pending session (`ended`) and blocks the pair too.

Audit actions: login_failed (with the pair's failure count), login_throttled (refused: the pair
blocks), login_rate_limited (refused: the address blocks), login_blocked (a block started:
kind, failures, until), login_alert (an account's failures, from everywhere, crossed the
ceiling: nothing is locked, someone should look), login_disabled, mfa_failed, mfa_blocked,
mfa_throttled. The successful `login` and `mfa_enrolled` events are the web layer's, which
opens the session.
"""

from __future__ import annotations

from dataclasses import dataclass

from guetteur.domain.permissions import Principal
from guetteur.domain.throttle import PAIR, TOTP
from guetteur.services.accounts import Accounts, LoginResult
from guetteur.services.audit import AuditLog
from guetteur.services.login_throttle import LoginThrottle, Ticket


@dataclass(frozen=True)
class CodeOutcome:
    """`status`: ok, bad (wrong code, try again), ended (blocked: the pending session must
    end), limited (the address blocks)."""

    status: str
    blocked_until_utc_us: int | None = None


class LoginGuard:
    def __init__(self, accounts: Accounts, throttle: LoginThrottle, audit: AuditLog) -> None:
        self._accounts = accounts
        self.throttle = throttle
        self._audit = audit

    def password(self, name: str, password: str, addr: str | None) -> LoginResult:
        """`LoginResult` with status ok, bad, limited or disabled."""
        ticket = self.throttle.password_attempt(name, addr)
        if ticket.refused:
            if ticket.refused_by == PAIR.kind:
                self._accounts.burn(password)  # as long as a real check
            action = "login_throttled" if ticket.refused_by == PAIR.kind else \
                "login_rate_limited"
            self._audit.append(action, username=name, client_addr=addr,
                               detail={"blocked_by": ticket.refused_by,
                                       "blocked_until_utc_us": ticket.refused_until_us})
            return LoginResult("bad" if ticket.refused_by == PAIR.kind else "limited")
        result = self._accounts.authenticate(name, password)
        if result.status != "bad":  # the password was right
            self.throttle.succeeded(ticket)
            if result.status == "disabled":
                self._audit.append("login_disabled", username=name, client_addr=addr)
            return result
        pair = next(c for c in ticket.counted if c.policy is PAIR)
        self._audit.append("login_failed", username=name, client_addr=addr,
                           detail={"failures": pair.failures})
        self._blocks_and_alerts(ticket, name, addr)
        return result

    def code(self, who: Principal, code: str, addr: str | None,
             enrolling: bool) -> CodeOutcome:
        ticket = self.throttle.code_attempt(who.username, addr)
        if ticket.refused:
            action = "mfa_throttled" if ticket.refused_by == TOTP.kind else "login_rate_limited"
            self._audit.append(action, user_id=who.user_id, username=who.username,
                               client_addr=addr,
                               detail={"blocked_by": ticket.refused_by,
                                       "blocked_until_utc_us": ticket.refused_until_us})
            return CodeOutcome("ended" if ticket.refused_by == TOTP.kind else "limited",
                               ticket.refused_until_us)
        if self._accounts.check_totp(who.user_id, code, enrolling):
            self.throttle.succeeded(ticket)
            return CodeOutcome("ok")
        totp = next(c for c in ticket.counted if c.policy is TOTP)
        self._audit.append("mfa_failed", user_id=who.user_id, username=who.username,
                           client_addr=addr, detail={"failures": totp.failures})
        self._blocks_and_alerts(ticket, who.username, addr, who.user_id)
        if totp.block_started and totp.until_us is not None:
            self.throttle.hold_pair(who.username, addr, totp.until_us)
            return CodeOutcome("ended", totp.until_us)
        return CodeOutcome("bad")

    def _blocks_and_alerts(self, ticket: Ticket, name: str, addr: str | None,
                           user_id: int | None = None) -> None:
        for c in ticket.blocks_started():
            action = "mfa_blocked" if c.policy is TOTP else "login_blocked"
            self._audit.append(action, user_id=user_id, username=name, client_addr=addr,
                               detail={"kind": c.policy.kind, "failures": c.failures,
                                       "blocked_until_utc_us": c.until_us})
        for c in ticket.alerts():
            self._audit.append("login_alert", user_id=user_id, username=name,
                               client_addr=addr,
                               detail={"kind": c.policy.kind, "failures": c.failures,
                                       "message": "nombreux échecs de connexion sur ce "
                                                  "compte, depuis toutes les adresses : "
                                                  "rien n'est verrouillé, vérifiez"})

    def unlock(self, username: str) -> list[dict[str, object]]:
        """Clear every throttle counter of an existing account; what was cleared (the caller
        audits it as `user_unlock`)."""
        user = self._accounts.get(username)
        return self.throttle.clear_account(user.username)
