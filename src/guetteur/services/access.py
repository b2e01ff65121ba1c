"""The one gate for pixels: every route that returns image data calls `authorize_media`.

It gathers the user's grants and the camera's facts (cached for at most `CACHE_S`, so a
revocation made in another process applies within a second; changes made through this
process's services apply at once), asks `domain.permissions.decide` and,
whatever the answer, writes an audit event (a refusal is as worth tracing as an access). An
investigator must give a case reference for playback and export. It returns the audit event
id, which a live view's closing event refers to. `allowed` answers the same question without
an audit event, for a live view re-checking its right while it plays and for filtering lists.

Invariants:
- The event tells what happened. `playback`/`live`/`export` means the pixels are given;
  `<action>_denied` means nothing is, with `detail.decision` saying why: the right's reason,
  "case reference required", "unknown camera", "not found" (segment, crop or package gone),
  "no footage", "not available" (package not finished). Callers resolve the object *before*
  deciding and pass what is missing as `unavailable`, so no grant is written for a request
  that then fails.
- An unknown camera or object is decided as a camera no scoped grant covers: 404 only for a
  user granted on every camera, the same 403 as any refusal for everyone else.
- A request is covered either by its own event or, for segment bytes, by the audited playlist
  event its playback token names (`playback_cover`); the full decision runs either way and a
  refusal is always written.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import Camera, Partner
from guetteur.domain import playback_token
from guetteur.domain.clock import Clock
from guetteur.domain.errors import (
    Conflict,
    Forbidden,
    GuetteurError,
    NoFootage,
    NotFound,
    RangeNotSatisfiable,
)
from guetteur.domain.permissions import (
    PIXEL_ACTIONS,
    CameraRef,
    Decision,
    Grant,
    Principal,
    decide,
)
from guetteur.domain.playback_token import PlaybackClaims
from guetteur.services.audit import AuditLog
from guetteur.services.grants import Grants

CACHE_S = 1.0
PLAYBACK_TOKEN_S = 4 * 3600  # a playlist's segment addresses stay covered this long


@dataclass(frozen=True)
class _Verdict:
    camera_id: int | None
    why: str  # the event's "decision"
    grant_ids: tuple[int, ...]
    error: GuetteurError | None  # None: granted


_OUTCOME: dict[type[GuetteurError], str] = {
    NotFound: "not found", NoFootage: "no footage", Conflict: "not available",
    RangeNotSatisfiable: "range not satisfiable"}


def _clean(reason: str | None) -> str | None:
    return (reason or "").strip()[:256] or None


class AccessGate:
    def __init__(self, sessions: sessionmaker[Session], grants: Grants, audit: AuditLog,
                 clock: Clock, token_key: bytes = b"") -> None:
        self._sessions = sessions
        # without a configured key (tests), tokens are valid in this process only
        self._token_key = token_key or secrets.token_bytes(32)
        self._grants = grants
        self._audit = audit
        self._clock = clock
        self._lock = threading.Lock()
        self._cameras: tuple[float, dict[int, CameraRef]] | None = None
        self._user_grants: dict[int, tuple[float, list[Grant]]] = {}
        self.refusals: dict[str, int] = {}  # refused requests by action, this process (metrics)
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
        """The camera's facts; None for None or an unknown id (then only a grant on all
        cameras covers it: the caller learns nothing of which ids exist)."""
        if camera_id is None:
            return None
        return self.camera_refs().get(camera_id)

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

    def authorize_media(self, who: Principal, action: str, camera_id: int | None, *,
                        range_from_utc_us: int | None = None,
                        range_to_utc_us: int | None = None, client_addr: str | None = None,
                        reason: str | None = None, detail: dict[str, object] | None = None,
                        unavailable: GuetteurError | None = None,
                        covered_by: int | None = None) -> int:
        """Decide a pixel request and write its audit event; the event id, or raise.

        `camera_id` None: the object asked for (segment, crop, package) does not exist.
        `unavailable`: the error the request ends with although the right may hold (file
        gone, package not finished), found by the caller before deciding. `covered_by`: the
        id of an audited grant this request provably belongs to (a verified playback token):
        a grant then writes no new event and returns it; a refusal is always written."""
        [event_id] = self.authorize_media_each(
            who, action, [camera_id], range_from_utc_us=range_from_utc_us,
            range_to_utc_us=range_to_utc_us, client_addr=client_addr, reason=reason,
            detail=detail, unavailable=unavailable, covered_by=covered_by)
        return event_id

    def authorize_media_each(self, who: Principal, action: str,
                             camera_ids: Sequence[int | None], *,
                             range_from_utc_us: int | None = None,
                             range_to_utc_us: int | None = None,
                             client_addr: str | None = None, reason: str | None = None,
                             detail: dict[str, object] | None = None,
                             unavailable: GuetteurError | None = None,
                             covered_by: int | None = None) -> list[int]:
        """One request for the pixels of several cameras (an export package): granted only if
        granted on every one (one event each); otherwise only the refusals are written, since
        nothing is given."""
        if action not in PIXEL_ACTIONS:
            raise ValueError(f"{action} is not a pixel action")
        reason = _clean(reason)
        verdicts = [self._verdict(who, action, cid, reason, unavailable) for cid in camera_ids]
        refused = [v for v in verdicts if v.error is not None]
        ids = []
        for v in refused or verdicts:
            if v.error is None and covered_by is not None:
                ids.append(covered_by)
                continue
            ids.append(self._audit.append(
                action if v.error is None else f"{action}_denied", user_id=who.user_id,
                username=who.username, camera_id=v.camera_id,
                range_from_utc_us=range_from_utc_us, range_to_utc_us=range_to_utc_us,
                client_addr=client_addr, reason=reason,
                detail={**(detail or {}), "decision": v.why, "grants": list(v.grant_ids),
                        **({"covered_by": covered_by} if covered_by is not None else {})}))
        if refused:
            self._count_refusal(action, len(refused))
            error = refused[0].error
            assert error is not None
            raise error
        return ids

    def _verdict(self, who: Principal, action: str, camera_id: int | None,
                 reason: str | None, unavailable: GuetteurError | None) -> _Verdict:
        """The truthful outcome, in order: no right (403, whatever exists), unknown camera or
        object (404 for whoever holds a grant on every camera, else the same 403), missing
        case reference (403), unavailable (its error), granted."""
        ref = self._known_camera(camera_id)
        # An unknown camera or object is decided as a camera no scoped grant covers: only a
        # grant on all cameras can reach it, so its 404 tells nothing to anyone else.
        decision = decide(who, self.grants_of(who.user_id), action, ref, self._clock.now_us())
        grants = decision.grant_ids
        unknown = ref is None
        what = "unknown camera" if camera_id is not None else "not found"
        if not decision.allowed:
            return _Verdict(camera_id, what if unknown else decision.reason, grants,
                            Forbidden("Vous n'avez pas le droit de voir les images de cette "
                                      "caméra."))
        if unknown:
            gone = NotFound("Caméra inconnue.") if camera_id is not None else (
                unavailable or NotFound("Objet inconnu."))
            return _Verdict(camera_id, what, grants, gone)
        if decision.needs_case and not reason:
            return _Verdict(camera_id, "case reference required", grants, Forbidden(
                "Une référence de réquisition judiciaire est obligatoire pour consulter ou "
                "extraire ces images (paramètre « reason »)."))
        if unavailable is not None:
            return _Verdict(camera_id, _OUTCOME.get(type(unavailable), "unavailable"), grants,
                            unavailable)
        return _Verdict(camera_id, decision.reason, grants, None)

    def _known_camera(self, camera_id: int | None) -> CameraRef | None:
        if camera_id is None:
            return None
        ref = self.camera_refs().get(camera_id)
        if ref is None:  # maybe added by another process within the cache's second
            with self._lock:
                self._cameras = None
            ref = self.camera_refs().get(camera_id)
        return ref

    def issue_playback_token(self, who: Principal, camera_id: int, stream: str,
                             from_utc_us: int, to_utc_us: int, event_id: int,
                             reason: str | None) -> str:
        """The token a playlist's segment addresses carry (see domain/playback_token.py)."""
        expires_s = self._clock.now_us() // 1_000_000 + PLAYBACK_TOKEN_S
        claims = PlaybackClaims(who.user_id, camera_id, stream, from_utc_us, to_utc_us,
                                event_id, expires_s)
        return playback_token.sign(self._token_key, claims, _clean(reason))

    def playback_cover(self, token: str | None, who: Principal, camera_id: int, stream: str,
                       start_utc_us: int, end_utc_us: int,
                       reason: str | None) -> tuple[int | None, str | None]:
        """(id of the audited playback event covering this segment request, None) when the
        token is valid for it, else (None, why not)."""
        if not token:
            return None, "no token"
        claims = playback_token.verify(self._token_key, token, _clean(reason))
        if isinstance(claims, str):
            return None, claims
        why = playback_token.rejection(claims, user_id=who.user_id, camera_id=camera_id,
                                       stream=stream, start_utc_us=start_utc_us,
                                       end_utc_us=end_utc_us, now_utc_us=self._clock.now_us())
        return (None, why) if why else (claims.event_id, None)

    def authorize(self, who: Principal, action: str, camera_id: int | None = None) -> None:
        """Non-pixel actions (configuration, health, audit): checked, not audited here."""
        if not self.allowed(who, action, camera_id):
            self._count_refusal(action)
            raise Forbidden("Action non autorisée pour votre compte.")

    def _count_refusal(self, action: str, n: int = 1) -> None:
        with self._lock:
            self.refusals[action] = self.refusals.get(action, 0) + n

    def visible(self, who: Principal, action: str) -> set[int]:
        """Ids of the cameras on which `who` may do `action` now."""
        grants = self.grants_of(who.user_id)
        now = self._clock.now_us()
        return {cid for cid, ref in self.camera_refs().items()
                if decide(who, grants, action, ref, now).allowed}
