"""Camera registry: add, list, show, update and remove cameras and partners.

Every change is validated by `domain.cameras.validate_spec` first and either fully applied or not
at all; credentials are sealed with the `SecretBox` and never returned. Each change bumps the
camera's `config_version` and is audited with before/after (credentials redacted). Listeners
(the recorder supervisor) are told at once so a change takes effect without a restart.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import Camera, Partner, Segment, StreamStatus
from guetteur.adapters.secrets import SecretBox
from guetteur.domain.cameras import CITY_OWNER, CameraSpec, Credentials, validate_spec
from guetteur.domain.clock import Clock
from guetteur.domain.errors import Conflict, InvalidInput, NotFound
from guetteur.services.audit import AuditLog

_UNSET: Any = object()


@dataclass(frozen=True)
class CameraView:
    """A camera as shown to users: never the credentials, only whether there are some."""

    id: int
    name: str
    main_url: str
    sub_url: str | None
    has_credentials: bool
    owner: str
    site: str | None
    latitude: float | None
    longitude: float | None
    purposes: list[str]
    authorisation_ref: str | None
    authorisation_expiry: date | None
    retention_days: int
    enabled: bool
    recorder_node: str | None
    config_version: int

    def public(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data["authorisation_expiry"] = (self.authorisation_expiry.isoformat()
                                        if self.authorisation_expiry else None)
        return data


@dataclass(frozen=True)
class RecordTarget:
    """What a recorder needs to connect: includes decrypted credentials. Never leaves the
    process, never logged."""

    camera_id: int
    name: str
    main_url: str
    sub_url: str | None
    credentials: Credentials | None
    config_version: int


class CameraRegistry:
    def __init__(self, sessions: sessionmaker[Session], box: SecretBox, clock: Clock,
                 audit: AuditLog) -> None:
        self._sessions = sessions
        self._box = box
        self._clock = clock
        self._audit = audit
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- partners ---------------------------------------------------------------------------
    def add_partner(self, name: str, actor: str | None = None) -> int:
        cleaned = name.strip()
        if not cleaned or cleaned == CITY_OWNER or len(cleaned) > 128:
            raise InvalidInput(f"Nom de bailleur « {name} » invalide.", "name")
        with self._sessions.begin() as db:
            if db.scalar(select(Partner.id).where(Partner.name == cleaned)):
                raise Conflict(f"Le bailleur « {cleaned} » existe déjà.")
            partner = Partner(name=cleaned, created_utc_us=self._clock.now_us())
            db.add(partner)
            db.flush()
            pid = int(partner.id)
        self._audit.append("partner_add", username=actor, detail={"partner": cleaned})
        return pid

    def list_partners(self) -> builtins.list[dict[str, Any]]:
        with self._sessions() as db:
            rows = db.execute(select(Partner.id, Partner.name).order_by(Partner.name)).all()
            return [{"id": r.id, "name": r.name} for r in rows]

    def _partner_id(self, db: Session, owner: str) -> int | None:
        if owner == CITY_OWNER:
            return None
        pid = db.scalar(select(Partner.id).where(Partner.name == owner))
        if pid is None:
            known = ", ".join(db.scalars(select(Partner.name).order_by(Partner.name))) or "aucun"
            raise InvalidInput(
                f"Propriétaire « {owner} » inconnu : utilisez « city » ou un bailleur "
                f"enregistré ({known}). Ajoutez le bailleur avec `guetteur partner add`.",
                "owner")
        return int(pid)

    # -- cameras ----------------------------------------------------------------------------
    def _view(self, db: Session, cam: Camera) -> CameraView:
        owner = CITY_OWNER
        if cam.partner_id is not None:
            owner = db.scalar(select(Partner.name).where(Partner.id == cam.partner_id)) or "?"
        expiry = cam.authorisation_expiry
        return CameraView(
            id=cam.id, name=cam.name, main_url=cam.main_url, sub_url=cam.sub_url,
            has_credentials=cam.credentials_enc is not None, owner=owner, site=cam.site,
            latitude=cam.latitude, longitude=cam.longitude, purposes=json.loads(cam.purposes),
            authorisation_ref=cam.authorisation_ref,
            authorisation_expiry=expiry if isinstance(expiry, date) else None,
            retention_days=cam.retention_days, enabled=cam.enabled,
            recorder_node=cam.recorder_node, config_version=cam.config_version)

    def _spec_of(self, db: Session, cam: Camera) -> CameraSpec:
        view = self._view(db, cam)
        return CameraSpec(
            name=cam.name, main_url=cam.main_url, sub_url=cam.sub_url,
            credentials=self._box.open(cam.credentials_enc), owner=view.owner, site=cam.site,
            latitude=cam.latitude, longitude=cam.longitude, purposes=tuple(view.purposes),
            authorisation_ref=cam.authorisation_ref,
            authorisation_expiry=view.authorisation_expiry,
            retention_days=cam.retention_days, enabled=cam.enabled)

    def _apply(self, db: Session, cam: Camera, spec: CameraSpec) -> None:
        cam.name = spec.name
        cam.main_url = spec.main_url
        cam.sub_url = spec.sub_url
        cam.credentials_enc = self._box.seal(spec.credentials)
        cam.partner_id = self._partner_id(db, spec.owner)
        cam.site = spec.site
        cam.latitude = spec.latitude
        cam.longitude = spec.longitude
        cam.purposes = json.dumps(list(spec.purposes), ensure_ascii=False)
        cam.authorisation_ref = spec.authorisation_ref
        cam.authorisation_expiry = spec.authorisation_expiry
        cam.retention_days = spec.retention_days
        cam.enabled = spec.enabled
        cam.updated_utc_us = self._clock.now_us()

    def _find(self, db: Session, ref: int | str) -> Camera:
        cam = None
        if isinstance(ref, int) or str(ref).isdigit():
            cam = db.get(Camera, int(ref))
        if cam is None:
            cam = db.scalar(select(Camera).where(Camera.name == str(ref)))
        if cam is None:
            raise NotFound(f"Caméra « {ref} » inconnue.")
        return cam

    def add(self, spec: CameraSpec, actor: str | None = None) -> CameraView:
        clean = validate_spec(spec)
        with self._sessions.begin() as db:
            if db.scalar(select(Camera.id).where(Camera.name == clean.name)):
                raise Conflict(f"Une caméra nommée « {clean.name} » existe déjà.")
            now = self._clock.now_us()
            cam = Camera(created_utc_us=now, config_version=1)
            self._apply(db, cam, clean)
            db.add(cam)
            try:
                db.flush()
            except IntegrityError:
                raise Conflict(f"Une caméra nommée « {clean.name} » existe déjà.") from None
            view = self._view(db, cam)
        self._audit.append("camera_add", username=actor, camera_id=view.id,
                           detail={"after": view.public()})
        self._changed()
        return view

    def update(self, ref: int | str, actor: str | None = None, **changes: Any) -> CameraView:
        allowed = set(CameraSpec.__dataclass_fields__)
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(f"Champ(s) inconnu(s) : {', '.join(sorted(unknown))}.")
        with self._sessions.begin() as db:
            cam = self._find(db, ref)
            before = self._view(db, cam)
            current = self._spec_of(db, cam)
            if "purposes" in changes and changes["purposes"] is not None:
                changes["purposes"] = tuple(changes["purposes"])
            clean = validate_spec(replace(current, **changes))
            if clean.name != cam.name and db.scalar(
                    select(Camera.id).where(Camera.name == clean.name)):
                raise Conflict(f"Une caméra nommée « {clean.name} » existe déjà.")
            self._apply(db, cam, clean)
            cam.config_version = cam.config_version + 1
            db.flush()
            after = self._view(db, cam)
        self._audit.append("camera_update", username=actor, camera_id=after.id,
                           detail={"before": before.public(), "after": after.public(),
                                   "credentials_changed": "credentials" in changes})
        self._changed()
        return after

    def remove(self, ref: int | str, actor: str | None = None) -> CameraView:
        """Remove a camera that has no footage left; otherwise say to disable it instead."""
        with self._sessions.begin() as db:
            cam = self._find(db, ref)
            count = db.scalar(select(func.count()).select_from(Segment)
                              .where(Segment.camera_id == cam.id)) or 0
            if count:
                raise Conflict(
                    f"La caméra « {cam.name} » a encore {count} segment(s) enregistré(s) : "
                    "désactivez-la (`guetteur camera update --disable`) ; elle pourra être "
                    "supprimée quand la durée de conservation aura effacé ses images.")
            view = self._view(db, cam)
            db.query(StreamStatus).filter(StreamStatus.camera_id == cam.id).delete()
            db.delete(cam)
        self._audit.append("camera_remove", username=actor, camera_id=view.id,
                           detail={"before": view.public()})
        self._changed()
        return view

    def get(self, ref: int | str) -> CameraView:
        with self._sessions() as db:
            return self._view(db, self._find(db, ref))

    def list(self) -> list[CameraView]:
        with self._sessions() as db:
            return [self._view(db, c) for c in db.scalars(select(Camera).order_by(Camera.id))]

    def record_targets(self, node: str) -> builtins.list[RecordTarget]:
        """Enabled cameras this node records, with credentials (recorder use only)."""
        with self._sessions() as db:
            cams = db.scalars(select(Camera).where(
                Camera.enabled.is_(True),
                (Camera.recorder_node.is_(None)) | (Camera.recorder_node == node)))
            return [RecordTarget(c.id, c.name, c.main_url, c.sub_url,
                                 self._box.open(c.credentials_enc), c.config_version)
                    for c in cams]
