"""Accounts, second factor and web sessions.

- Passwords: argon2id. Named accounts only; a disabled account can neither log in nor keep a
  session.
- No account lock: failures are throttled per account x client address, per address, and
  watched per account by `services/login_throttle.py` (`services/login.py` runs a login
  through it). `authenticate` and `burn` cost one argon2 verification each, whether the
  account exists or not, so timing does not tell which names exist.
- Second factor: TOTP (RFC 6238, 30 s, 6 digits, ±1 step), secret sealed with the SecretBox,
  mandatory for every role that can see images (`IMAGE_ROLES`). A code is accepted once: the
  last accepted time step is stored, so a shoulder-surfed code cannot be replayed.
- Sessions: a random token in an HttpOnly, SameSite=Strict cookie; only its SHA-256 is stored.
  A session is `full`, or `mfa`/`enrol` while the second factor is pending (such a session
  opens nothing but the second-factor pages). Each has its CSRF token. Sessions expire after
  `idle_s` without a request and `absolute_s` after login; disabling a user or resetting its
  password ends its sessions.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import Partner, User, WebSession
from guetteur.adapters.secrets import SecretBox
from guetteur.domain.clock import Clock
from guetteur.domain.errors import Conflict, InvalidInput, NotFound
from guetteur.domain.permissions import IMAGE_ROLES, ROLES, Principal
from guetteur.services.login_throttle import AccountThrottle, LoginThrottle

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory defaults
_DUMMY_HASH = _HASHER.hash("timing-equaliser")
MIN_PASSWORD = 12
ISSUER = "Guetteur"
PLACEHOLDER_PASSWORDS = ("admin", "administrator", "password", "changeme", "change-me",
                         "guetteur", "123456789012", "motdepasse", "admin12345678")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"Mot de passe trop court : {MIN_PASSWORD} caractères minimum.",
                           "password")


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    full_name: str | None
    role: str
    enabled: bool
    partner: str | None
    habilitation_until_utc_us: int | None
    totp_enrolled: bool
    blocked_until_utc_us: int | None  # latest running login block of this name (any address)
    login_failures: int  # failures counted now on this name (passwords and codes)
    created_utc_us: int

    def public(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LoginResult:
    """`status`: ok, bad (unknown name, wrong password, or a blocking name x address pair),
    limited (the client address blocks), disabled (right password, disabled account)."""

    status: str
    principal: Principal | None = None
    needs: str = "full"  # full | mfa | enrol


@dataclass(frozen=True)
class SessionInfo:
    principal: Principal
    stage: str
    csrf_token: str


def find_user(db: Session, ref: int | str) -> User:
    """A user by id or by username; NotFound otherwise."""
    user = None
    if isinstance(ref, int) or str(ref).isdigit():
        user = db.get(User, int(ref))
    if user is None:
        user = db.scalar(select(User).where(User.username == str(ref)))
    if user is None:
        raise NotFound(f"Utilisateur « {ref} » inconnu.")
    return user


class Accounts:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, box: SecretBox,
                 idle_s: int, absolute_s: int, throttle: LoginThrottle | None = None) -> None:
        self._sessions = sessions
        self.throttle = throttle or LoginThrottle(sessions, clock)
        self._clock = clock
        self._box = box
        self._idle_us = idle_s * 1_000_000
        self._absolute_us = absolute_s * 1_000_000

    # -- users --------------------------------------------------------------------------------
    @staticmethod
    def _principal(user: User) -> Principal:
        return Principal(user.id, user.username, user.role, user.enabled, user.partner_id,
                         user.habilitation_until_utc_us)

    def _view(self, db: Session, user: User,
              throttled: dict[str, AccountThrottle] | None = None) -> UserView:
        partner = None
        if user.partner_id is not None:
            partner = db.scalar(select(Partner.name).where(Partner.id == user.partner_id))
        if throttled is None:
            throttled = self.throttle.by_account()
        state = throttled.get(user.username, AccountThrottle(0, None))
        return UserView(user.id, user.username, user.full_name, user.role, user.enabled,
                        partner, user.habilitation_until_utc_us, user.totp_enrolled,
                        state.blocked_until_utc_us, state.failures, user.created_utc_us)

    @staticmethod
    def _find(db: Session, ref: int | str) -> User:
        return find_user(db, ref)

    def _partner_id(self, db: Session, role: str, partner: str | None) -> int | None:
        if role != "landlord":
            if partner:
                raise InvalidInput("Seul un compte bailleur est rattaché à un bailleur.",
                                   "partner")
            return None
        if not partner:
            raise InvalidInput("Un compte bailleur doit être rattaché à un bailleur partenaire.",
                               "partner")
        pid = db.scalar(select(Partner.id).where(Partner.name == partner))
        if pid is None:
            raise InvalidInput(f"Bailleur « {partner} » inconnu.", "partner")
        return int(pid)

    def add_user(self, username: str, password: str, role: str, full_name: str | None = None,
                 partner: str | None = None,
                 habilitation_until_utc_us: int | None = None) -> Principal:
        name = username.strip()
        if not name or len(name) > 64 or not name.replace(".", "").replace("-", "").replace(
                "_", "").isalnum():
            raise InvalidInput("Identifiant invalide : lettres, chiffres, . - _ (64 max).",
                               "username")
        if role not in ROLES:
            raise InvalidInput(f"Rôle « {role} » inconnu : {', '.join(ROLES)}.", "role")
        _check_password(password)
        try:
            with self._sessions.begin() as db:
                user = User(username=name, full_name=full_name, role=role, enabled=True,
                            password_hash=_HASHER.hash(password),
                            created_utc_us=self._clock.now_us(),
                            partner_id=self._partner_id(db, role, partner),
                            habilitation_until_utc_us=habilitation_until_utc_us,
                            totp_enrolled=False, failed_logins=0)
                db.add(user)
                db.flush()
                return self._principal(user)
        except IntegrityError:
            raise Conflict(f"L'utilisateur « {name} » existe déjà.") from None

    def get(self, ref: int | str) -> UserView:
        with self._sessions() as db:
            return self._view(db, self._find(db, ref))

    def list(self) -> builtins.list[UserView]:
        with self._sessions() as db:
            throttled = self.throttle.by_account()
            return [self._view(db, u, throttled)
                    for u in db.scalars(select(User).order_by(User.username))]

    def principal_of(self, ref: int | str) -> Principal:
        with self._sessions() as db:
            return self._principal(self._find(db, ref))

    def update(self, ref: int | str, *, enabled: bool | None = None,
               full_name: str | None = None, habilitation_until_utc_us: int | None = None,
               clear_habilitation: bool = False) -> tuple[UserView, UserView]:
        """(before, after). Disabling ends every session of the user at once."""
        with self._sessions.begin() as db:
            user = self._find(db, ref)
            before = self._view(db, user)
            if enabled is not None:
                user.enabled = enabled
                if not enabled:
                    db.execute(delete(WebSession).where(WebSession.user_id == user.id))
            if full_name is not None:
                user.full_name = full_name
            if habilitation_until_utc_us is not None:
                user.habilitation_until_utc_us = habilitation_until_utc_us
            if clear_habilitation:
                user.habilitation_until_utc_us = None
            db.flush()
            return before, self._view(db, user)

    def set_password(self, ref: int | str, password: str, reset_totp: bool = False) -> None:
        """New password (and, on reset, a new second factor to enrol); sessions end. The
        reset (by an administrator) also clears the account's login throttle."""
        _check_password(password)
        with self._sessions.begin() as db:
            user = self._find(db, ref)
            user.password_hash = _HASHER.hash(password)
            name = user.username
            if reset_totp:
                user.totp_secret_enc = None
                user.totp_enrolled = False
                user.totp_last_step = None
            db.execute(delete(WebSession).where(WebSession.user_id == user.id))
        if reset_totp:
            self.throttle.clear_account(name)

    def weak_admins(self) -> builtins.list[str]:
        """Enabled administrators whose password is a known placeholder (production check)."""
        weak = []
        with self._sessions() as db:
            admins = db.scalars(select(User).where(User.role == "admin",
                                                   User.enabled.is_(True))).all()
        for user in admins:
            for candidate in PLACEHOLDER_PASSWORDS:
                with contextlib.suppress(VerificationError, InvalidHashError):
                    if _HASHER.verify(user.password_hash, candidate):
                        weak.append(user.username)
                        break
        return weak

    # -- authentication -----------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> LoginResult:
        """Checks the password only (throttling is `services/login.py`'s): one argon2
        verification whatever the outcome, against a dummy hash for an unknown name."""
        with self._sessions() as db:
            user = db.scalar(select(User).where(User.username == username.strip()))
        if user is None:
            self.burn(password)
            return LoginResult("bad")
        try:
            _HASHER.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return LoginResult("bad")
        if not user.enabled:
            return LoginResult("disabled")
        needs = "full"
        if user.totp_enrolled:
            needs = "mfa"
        elif user.role in IMAGE_ROLES:
            needs = "enrol"
        return LoginResult("ok", self._principal(user), needs)

    @staticmethod
    def burn(password: str) -> None:
        """The cost of one password check, for answers that must take as long as one."""
        with contextlib.suppress(VerificationError):
            _HASHER.verify(_DUMMY_HASH, password + "x")

    # -- second factor ------------------------------------------------------------------------
    def begin_enrolment(self, user_id: int) -> tuple[str, str]:
        """A new TOTP secret for a user not yet enrolled: (secret, otpauth:// URI)."""
        with self._sessions.begin() as db:
            user = self._find(db, user_id)
            if user.totp_enrolled:
                raise Conflict("Le second facteur est déjà enrôlé ; demandez une "
                               "réinitialisation à un administrateur.")
            secret = self._box.open_text(user.totp_secret_enc) if user.totp_secret_enc else None
            if secret is None:
                secret = pyotp.random_base32()
                user.totp_secret_enc = self._box.seal_text(secret)
            uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
            return secret, uri

    def current_code(self, user_id: int) -> str:
        """The code an authenticator app would show now. Development and demo only: the CLI
        refuses it in production mode."""
        with self._sessions.begin() as db:
            user = self._find(db, user_id)
            if user.totp_secret_enc is None:
                user.totp_secret_enc = self._box.seal_text(pyotp.random_base32())
            secret = self._box.open_text(user.totp_secret_enc)
        return str(pyotp.TOTP(secret).at(self._clock.now_us() / 1_000_000))

    def check_totp(self, user_id: int, code: str, enrolling: bool = False) -> bool:
        """True if the code is right and was never used; confirms an enrolment."""
        digits = "".join(ch for ch in code if ch.isdigit())
        if len(digits) != 6:
            return False
        now_s = self._clock.now_us() / 1_000_000
        with self._sessions.begin() as db:
            user = self._find(db, user_id)
            if user.totp_secret_enc is None or (user.totp_enrolled == enrolling):
                return False
            totp = pyotp.TOTP(self._box.open_text(user.totp_secret_enc))
            step_now = int(now_s // totp.interval)
            for step in (step_now, step_now - 1, step_now + 1):
                if hmac.compare_digest(totp.at(step * totp.interval), digits):
                    if user.totp_last_step is not None and step <= user.totp_last_step:
                        return False  # replay
                    user.totp_last_step = step
                    user.totp_enrolled = True
                    return True
            return False

    # -- sessions -----------------------------------------------------------------------------
    def open_session(self, who: Principal, client_addr: str | None,
                     stage: str = "full") -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock.now_us()
        with self._sessions.begin() as db:
            db.add(WebSession(token_sha256=_digest(token), user_id=who.user_id,
                              created_utc_us=now, last_seen_utc_us=now,
                              client_addr=client_addr, stage=stage,
                              csrf_token=secrets.token_urlsafe(24)))
        return token

    def promote_session(self, token: str) -> None:
        """The second factor was given: the session becomes a full one."""
        with self._sessions.begin() as db:
            sess = db.get(WebSession, _digest(token))
            if sess is not None:
                sess.stage = "full"
                sess.csrf_token = secrets.token_urlsafe(24)

    def session(self, token: str | None) -> SessionInfo | None:
        """The session of a token if it is valid now (its idle clock is reset)."""
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
            return SessionInfo(self._principal(user), sess.stage, sess.csrf_token)

    def session_principal(self, token: str | None) -> Principal | None:
        """The user of a valid, fully authenticated session."""
        info = self.session(token)
        return info.principal if info is not None and info.stage == "full" else None

    def close_session(self, token: str | None) -> None:
        if token:
            with self._sessions.begin() as db:
                db.execute(delete(WebSession).where(WebSession.token_sha256 == _digest(token)))
