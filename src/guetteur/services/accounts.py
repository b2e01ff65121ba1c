"""Accounts and web sessions.

Passwords are hashed with argon2id. A session token is 32 random bytes sent once in an
HttpOnly, SameSite=Strict cookie; only its SHA-256 is stored, so a database leak gives no
usable session. Sessions expire after `idle_s` without a request and `absolute_s` after login.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import User, WebSession
from guetteur.domain.clock import Clock
from guetteur.domain.errors import Conflict, InvalidInput, NotFound
from guetteur.domain.permissions import ROLES, Principal

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults
_DUMMY_HASH = _HASHER.hash("timing-equaliser")
MIN_PASSWORD = 12


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(15)


class Accounts:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, idle_s: int,
                 absolute_s: int) -> None:
        self._sessions = sessions
        self._clock = clock
        self._idle_us = idle_s * 1_000_000
        self._absolute_us = absolute_s * 1_000_000

    def add_user(self, username: str, password: str, role: str,
                 full_name: str | None = None) -> Principal:
        name = username.strip()
        if not name or len(name) > 64 or not name.replace(".", "").replace("-", "").replace(
                "_", "").isalnum():
            raise InvalidInput("Identifiant invalide : lettres, chiffres, . - _ (64 max).",
                               "username")
        if role not in ROLES:
            raise InvalidInput(f"Rôle « {role} » inconnu : {', '.join(ROLES)}.", "role")
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(f"Mot de passe trop court : {MIN_PASSWORD} caractères minimum.",
                               "password")
        try:
            with self._sessions.begin() as db:
                user = User(username=name, full_name=full_name, role=role, enabled=True,
                            password_hash=_HASHER.hash(password),
                            created_utc_us=self._clock.now_us())
                db.add(user)
                db.flush()
                return Principal(user.id, user.username, user.role)
        except IntegrityError:
            raise Conflict(f"L'utilisateur « {name} » existe déjà.") from None

    def set_password(self, username: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(f"Mot de passe trop court : {MIN_PASSWORD} caractères minimum.",
                               "password")
        with self._sessions.begin() as db:
            user = db.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(f"Utilisateur « {username} » inconnu.")
            user.password_hash = _HASHER.hash(password)
            db.execute(delete(WebSession).where(WebSession.user_id == user.id))

    def authenticate(self, username: str, password: str) -> Principal | None:
        with self._sessions() as db:
            user = db.scalar(select(User).where(User.username == username.strip()))
        if user is None:
            # same work as a real check, so timing does not reveal which usernames exist
            with contextlib.suppress(VerificationError):
                _HASHER.verify(_DUMMY_HASH, password + "x")
            return None
        try:
            _HASHER.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if not user.enabled:
            return None
        return Principal(user.id, user.username, user.role, user.enabled)

    def open_session(self, who: Principal, client_addr: str | None) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock.now_us()
        with self._sessions.begin() as db:
            db.add(WebSession(token_sha256=_digest(token), user_id=who.user_id,
                              created_utc_us=now, last_seen_utc_us=now,
                              client_addr=client_addr))
        return token

    def session_principal(self, token: str | None) -> Principal | None:
        """The user of a valid session (and the session's idle clock is reset)."""
        if not token:
            return None
        now = self._clock.now_us()
        with self._sessions.begin() as db:
            sess = db.get(WebSession, _digest(token))
            if sess is None:
                return None
            if (now - sess.last_seen_utc_us > self._idle_us
                    or now - sess.created_utc_us > self._absolute_us):
                db.delete(sess)
                return None
            user = db.get(User, sess.user_id)
            if user is None or not user.enabled:
                return None
            if now - sess.last_seen_utc_us > 5_000_000:
                sess.last_seen_utc_us = now
            return Principal(user.id, user.username, user.role, user.enabled)

    def close_session(self, token: str | None) -> None:
        if token:
            with self._sessions.begin() as db:
                db.execute(delete(WebSession).where(WebSession.token_sha256 == _digest(token)))
