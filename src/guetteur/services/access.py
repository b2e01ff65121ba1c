"""The one gate for pixels: every route that returns image data calls `authorize_media`.

It asks `domain.permissions.can` and, whatever the answer, writes an audit event (a refusal is
as worth tracing as an access). It returns the audit event id, which a live view's closing
event refers to.
"""

from __future__ import annotations

from guetteur.domain.errors import Forbidden
from guetteur.domain.permissions import PIXEL_ACTIONS, Principal, can
from guetteur.services.audit import AuditLog


class AccessGate:
    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    def authorize_media(self, who: Principal, action: str, camera_id: int, *,
                        range_from_utc_us: int | None = None,
                        range_to_utc_us: int | None = None, client_addr: str | None = None,
                        detail: dict[str, object] | None = None) -> int:
        if action not in PIXEL_ACTIONS:
            raise ValueError(f"{action} is not a pixel action")
        allowed = can(who, action, camera_id)
        event_id = self._audit.append(
            action if allowed else f"{action}_denied", user_id=who.user_id,
            username=who.username, camera_id=camera_id, range_from_utc_us=range_from_utc_us,
            range_to_utc_us=range_to_utc_us, client_addr=client_addr, detail=detail)
        if not allowed:
            raise Forbidden("Vous n'avez pas le droit de voir les images de cette caméra.")
        return event_id

    def authorize(self, who: Principal, action: str, camera_id: int | None = None) -> None:
        """Non-pixel actions (configuration, health): checked, not audited here."""
        if not can(who, action, camera_id):
            raise Forbidden("Action non autorisée pour votre compte.")

    def check_media(self, who: Principal, action: str, camera_id: int | None) -> None:
        """Decision without an audit event: for follow-up byte-range requests of a media
        already opened (and audited) in the same session."""
        if not can(who, action, camera_id):
            raise Forbidden("Vous n'avez pas le droit de voir les images de cette caméra.")
