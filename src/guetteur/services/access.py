"""The one gate for pixels: every route that returns image data calls `authorize_media`.

It gathers the user's grants and the camera's facts (cached for at most `CACHE_S`, so a
revocation made in another process applies within a second; changes made through this
process's services apply at once), asks `domain.permissions.decide` and,
whatever the answer, writes an audit event (a refusal is as worth tracing as an access). An
investigator must give a case reference for playback and export. It returns the audit event
id, which a live view's closing event refers to. `allowed` answers the same question without
an audit event, for a live view re-checking its right while it plays and for filtering lists.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import Camera, Partner
from guetteur.domain.clock import Clock
from guetteur.domain.errors import Forbidden
from guetteur.domain.permissions import (
    PIXEL_ACTIONS,
    CameraRef,
    Decision,
    Grant,
    Principal,
    decide,
)
from guetteur.services.audit import AuditLog
from guetteur.services.grants import Grants

CACHE_S = 1.0


class AccessGate:
    def __init__(self, sessions: sessionmaker[Session], grants: Grants, audit: AuditLog,
                 clock: Clock) -> None:
        self._sessions = sessions
        self._grants = grants
        self._audit = audit
        self._clock = clock
        self._lock = threading.Lock()
        self._cameras: tuple[float, dict[int, CameraRef]] | None = None
        self._user_grants: dict[int, tuple[float, list[Grant]]] = {}
        grants.on_change(self.invalidate)

    def invalidate(self) -> None:
        """Forget cached facts (called when grants or cameras change in this process)."""
        with self._lock:
            self._cameras = None
            self._user_grants.clear()

    def camera_refs(self) -> dict[int, CameraRef]:
        now = time.monotonic()
        cached = self._cameras
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        with self._sessions() as db:
            rows = db.execute(select(Camera.id, Camera.site, Camera.partner_id, Partner.name)
                              .outerjoin(Partner, Partner.id == Camera.partner_id)).all()
        refs = {r.id: CameraRef(r.id, r.site, r.name or "city", r.partner_id) for r in rows}
        with self._lock:
            self._cameras = (now, refs)
        return refs

    def camera_ref(self, camera_id: int | None) -> CameraRef | None:
        if camera_id is None:
            return None
        # An unknown camera is decided as a camera nobody has a scoped grant on: the caller
        # learns nothing about which ids exist unless it could see them anyway.
        return self.camera_refs().get(camera_id, CameraRef(camera_id))

    def grants_of(self, user_id: int) -> list[Grant]:
        now = time.monotonic()
        cached = self._user_grants.get(user_id)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        grants = self._grants.active_for(user_id)
        with self._lock:
            self._user_grants[user_id] = (now, grants)
        return grants

    def decision(self, who: Principal, action: str, camera_id: int | None) -> Decision:
        return decide(who, self.grants_of(who.user_id), action, self.camera_ref(camera_id),
                      self._clock.now_us())

    def allowed(self, who: Principal, action: str, camera_id: int | None) -> bool:
        return self.decision(who, action, camera_id).allowed

    def authorize_media(self, who: Principal, action: str, camera_id: int, *,
                        range_from_utc_us: int | None = None,
                        range_to_utc_us: int | None = None, client_addr: str | None = None,
                        reason: str | None = None,
                        detail: dict[str, object] | None = None) -> int:
        if action not in PIXEL_ACTIONS:
            raise ValueError(f"{action} is not a pixel action")
        decision = self.decision(who, action, camera_id)
        reason = (reason or "").strip()[:256] or None
        missing_case = decision.allowed and decision.needs_case and not reason
        allowed = decision.allowed and not missing_case
        why = "case reference required" if missing_case else decision.reason
        event_id = self._audit.append(
            action if allowed else f"{action}_denied", user_id=who.user_id,
            username=who.username, camera_id=camera_id, range_from_utc_us=range_from_utc_us,
            range_to_utc_us=range_to_utc_us, client_addr=client_addr, reason=reason,
            detail={**(detail or {}), "decision": why,
                    "grants": list(decision.grant_ids)})
        if missing_case:
            raise Forbidden("Une référence de réquisition judiciaire est obligatoire pour "
                            "consulter ou extraire ces images (paramètre « reason »).")
        if not allowed:
            raise Forbidden("Vous n'avez pas le droit de voir les images de cette caméra.")
        return event_id

    def check_media(self, who: Principal, action: str, camera_id: int | None) -> None:
        """Decision without an audit event: for follow-up byte-range requests of a media
        already opened (and audited) in the same session."""
        if not self.allowed(who, action, camera_id):
            raise Forbidden("Vous n'avez pas le droit de voir les images de cette caméra.")

    def authorize(self, who: Principal, action: str, camera_id: int | None = None) -> None:
        """Non-pixel actions (configuration, health, audit): checked, not audited here."""
        if not self.allowed(who, action, camera_id):
            raise Forbidden("Action non autorisée pour votre compte.")

    def visible(self, who: Principal, action: str) -> set[int]:
        """Ids of the cameras on which `who` may do `action` now."""
        grants = self.grants_of(who.user_id)
        now = self._clock.now_us()
        return {cid for cid, ref in self.camera_refs().items()
                if decide(who, grants, action, ref, now).allowed}
