"""Grants: who may do which action on which cameras, for how long.

Adding a grant checks it against the user's role (`GRANTABLE`: a landlord or an auditor can
never be granted an image right) and its scope against the registry (the site, owner or
cameras must exist). A revoked grant is kept with who revoked it and when, for the register.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import AccessGrant, Camera, Partner, User
from guetteur.domain.clock import Clock
from guetteur.domain.errors import InvalidInput, NotFound
from guetteur.domain.permissions import GRANT_ACTIONS, GRANTABLE, SCOPE_KINDS, Grant
from guetteur.services.accounts import find_user


@dataclass(frozen=True)
class GrantView:
    id: int
    user_id: int
    username: str
    action: str
    scope_kind: str
    scope_value: str | None
    valid_from_utc_us: int | None
    valid_until_utc_us: int | None
    created_by: str | None
    created_utc_us: int
    revoked_utc_us: int | None
    revoked_by: str | None

    def public(self) -> dict[str, object]:
        return dict(self.__dict__)


def _view(g: AccessGrant, username: str) -> GrantView:
    return GrantView(g.id, g.user_id, username, g.action, g.scope_kind, g.scope_value,
                     g.valid_from_utc_us, g.valid_until_utc_us, g.created_by, g.created_utc_us,
                     g.revoked_utc_us, g.revoked_by)


class Grants:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._listeners: builtins.list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def active_for(self, user_id: int) -> builtins.list[Grant]:
        """Grants not revoked (validity is the decision function's business)."""
        with self._sessions() as db:
            rows = db.scalars(select(AccessGrant).where(AccessGrant.user_id == user_id,
                                                        AccessGrant.revoked_utc_us.is_(None)))
            return [Grant(g.action, g.scope_kind, g.scope_value, g.valid_from_utc_us,
                          g.valid_until_utc_us, g.id) for g in rows]

    def _scope_value(self, db: Session, kind: str, value: str | None) -> str | None:
        if kind not in SCOPE_KINDS:
            raise InvalidInput(f"Portée « {kind} » inconnue : {', '.join(SCOPE_KINDS)}.",
                               "scope_kind")
        if kind == "all":
            return None
        text = (value or "").strip()
        if not text:
            raise InvalidInput("Précisez la portée (site, propriétaire ou caméras).",
                               "scope_value")
        if kind == "site":
            if not db.scalar(select(Camera.id).where(Camera.site == text).limit(1)):
                raise InvalidInput(f"Aucune caméra sur le site « {text} ».", "scope_value")
            return text
        if kind == "owner":
            if text != "city" and not db.scalar(select(Partner.id).where(Partner.name == text)):
                raise InvalidInput(f"Propriétaire « {text} » inconnu (« city » ou un bailleur).",
                                   "scope_value")
            return text
        ids: list[int] = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            cam = db.scalar(select(Camera.id).where(
                (Camera.name == part) | (Camera.id == (int(part) if part.isdigit() else -1))))
            if cam is None:
                raise InvalidInput(f"Caméra « {part} » inconnue.", "scope_value")
            ids.append(int(cam))
        if not ids:
            raise InvalidInput("Précisez au moins une caméra.", "scope_value")
        return ",".join(str(i) for i in sorted(set(ids)))

    def add(self, user_ref: int | str, action: str, scope_kind: str = "all",
            scope_value: str | None = None, valid_from_utc_us: int | None = None,
            valid_until_utc_us: int | None = None, actor: str | None = None) -> GrantView:
        if action not in GRANT_ACTIONS:
            raise InvalidInput(f"Action « {action} » inconnue : {', '.join(GRANT_ACTIONS)}.",
                               "action")
        if (valid_from_utc_us is not None and valid_until_utc_us is not None
                and valid_until_utc_us <= valid_from_utc_us):
            raise InvalidInput("La fin de validité doit suivre son début.", "valid_until")
        with self._sessions.begin() as db:
            user = self._user(db, user_ref)
            if action not in GRANTABLE.get(user.role, frozenset()):
                raise InvalidInput(
                    f"Un compte « {user.role} » ne peut pas recevoir le droit « {action} ».",
                    "action")
            grant = AccessGrant(user_id=user.id, action=action, scope_kind=scope_kind,
                                scope_value=self._scope_value(db, scope_kind, scope_value),
                                valid_from_utc_us=valid_from_utc_us,
                                valid_until_utc_us=valid_until_utc_us, created_by=actor,
                                created_utc_us=self._clock.now_us())
            db.add(grant)
            db.flush()
            view = _view(grant, user.username)
        self._changed()
        return view

    def revoke(self, grant_id: int, actor: str | None = None) -> GrantView:
        with self._sessions.begin() as db:
            grant = db.get(AccessGrant, grant_id)
            if grant is None:
                raise NotFound(f"Droit {grant_id} inconnu.")
            if grant.revoked_utc_us is None:
                grant.revoked_utc_us = self._clock.now_us()
                grant.revoked_by = actor
            username = db.scalar(select(User.username).where(User.id == grant.user_id)) or "?"
            view = _view(grant, username)
        self._changed()
        return view

    def list(self, user_ref: int | str | None = None,
             include_revoked: bool = False) -> builtins.list[GrantView]:
        with self._sessions() as db:
            query = select(AccessGrant, User.username).join(User,
                                                             User.id == AccessGrant.user_id)
            if user_ref is not None:
                query = query.where(AccessGrant.user_id == self._user(db, user_ref).id)
            if not include_revoked:
                query = query.where(AccessGrant.revoked_utc_us.is_(None))
            return [_view(g, name) for g, name in db.execute(query.order_by(AccessGrant.id))]

    @staticmethod
    def _user(db: Session, ref: int | str) -> User:
        return find_user(db, ref)
