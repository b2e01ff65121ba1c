"""Who may do what: the one pure decision function `decide` (and its boolean form `can`).

Inputs are plain values, so the rule is tested by a table of cases and decided the same way
for every route, every CLI command and every open live view (re-checked while it plays).

Roles bound what a user can ever do; grants give it, camera by camera:

| role          | may be granted                       | has without a grant           |
|---------------|--------------------------------------|-------------------------------|
| admin         | live, playback, export, ptz          | configure (all cameras), health |
| supervisor    | live, playback, export, ptz, audit   | health of cameras it may view |
| operator      | live, playback, ptz                  | health of cameras it may view |
| investigator  | playback, export (with a case ref.)  | health of cameras it may view |
| landlord      | nothing                              | health of its partner's cameras |
| auditor       | nothing                              | audit (all), health           |

A grant is (action, scope, validity): scope `all`, a `site`, an `owner` (`city` or a partner's
name) or a list of `cameras`; valid from `valid_from_utc_us` (inclusive) until
`valid_until_utc_us` (exclusive). A user's habilitation (`habilitation_until_utc_us`) ends
every image right, and the right to move cameras, the microsecond it passes, whatever the
grants say. A disabled account can do
nothing. Landlords never get a pixel: no grant can give them one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Action = Literal["live", "playback", "export", "ptz", "configure", "audit", "health"]
ACTIONS: tuple[str, ...] = ("live", "playback", "export", "ptz", "configure", "audit", "health")
PIXEL_ACTIONS: frozenset[str] = frozenset({"live", "playback", "export"})
# Actions only a habilitated agent may take (CSI L252-3): images, and steering the cameras.
HABILITATED_ACTIONS: frozenset[str] = PIXEL_ACTIONS | {"ptz"}
GRANT_ACTIONS: tuple[str, ...] = ("live", "playback", "export", "ptz", "configure", "audit")
ROLES: tuple[str, ...] = ("admin", "supervisor", "operator", "investigator", "landlord",
                          "auditor")
GRANTABLE: dict[str, frozenset[str]] = {
    "admin": frozenset({"live", "playback", "export", "ptz"}),
    "supervisor": frozenset({"live", "playback", "export", "ptz", "audit"}),
    "operator": frozenset({"live", "playback", "ptz"}),
    "investigator": frozenset({"playback", "export"}),
    "landlord": frozenset(),
    "auditor": frozenset(),
}
# Roles whose accounts can see images: a second factor is mandatory for them.
IMAGE_ROLES: frozenset[str] = frozenset({"admin", "supervisor", "operator", "investigator"})
# Actions that need a case reference (judicial requisition) for these roles.
CASE_REQUIRED: dict[str, frozenset[str]] = {"investigator": frozenset({"playback", "export"})}
SCOPE_KINDS: tuple[str, ...] = ("all", "site", "owner", "cameras")


@dataclass(frozen=True)
class Principal:
    """The authenticated user as the rules see it."""

    user_id: int
    username: str
    role: str
    enabled: bool = True
    partner_id: int | None = None
    habilitation_until_utc_us: int | None = None


@dataclass(frozen=True)
class CameraRef:
    """What the rules need to know of a camera."""

    id: int
    site: str | None = None
    owner: str = "city"
    partner_id: int | None = None


@dataclass(frozen=True)
class Grant:
    action: str
    scope_kind: str = "all"
    scope_value: str | None = None  # site name, owner name, or camera ids "1,2,3"
    valid_from_utc_us: int | None = None
    valid_until_utc_us: int | None = None
    id: int = 0

    def camera_ids(self) -> frozenset[int]:
        if self.scope_kind != "cameras" or not self.scope_value:
            return frozenset()
        return frozenset(int(x) for x in self.scope_value.split(",") if x.strip().isdigit())

    def covers(self, camera: CameraRef | None) -> bool:
        if self.scope_kind == "all":
            return True
        if camera is None:
            return False
        if self.scope_kind == "site":
            return camera.site is not None and camera.site == self.scope_value
        if self.scope_kind == "owner":
            return camera.owner == self.scope_value
        if self.scope_kind == "cameras":
            return camera.id in self.camera_ids()
        return False

    def valid_at(self, at_utc_us: int) -> bool:
        if self.valid_from_utc_us is not None and at_utc_us < self.valid_from_utc_us:
            return False
        return self.valid_until_utc_us is None or at_utc_us < self.valid_until_utc_us


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    needs_case: bool = False
    grant_ids: tuple[int, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return self.allowed


def decide(who: Principal, grants: Iterable[Grant], action: str, camera: CameraRef | None,
           at_utc_us: int) -> Decision:
    """May `who` do `action` on `camera` (None: on no camera in particular) at this instant?"""
    grants = tuple(grants)  # read more than once (health asks each viewing action in turn)
    if action not in ACTIONS:
        return Decision(False, f"unknown action {action}")
    if not who.enabled:
        return Decision(False, "account disabled")
    if who.role not in ROLES:
        return Decision(False, f"unknown role {who.role}")
    habilitated = (who.habilitation_until_utc_us is None
                   or at_utc_us < who.habilitation_until_utc_us)
    if action in HABILITATED_ACTIONS and not habilitated:
        return Decision(False, "habilitation expired")
    if who.role == "landlord":
        if action != "health":
            return Decision(False, "landlords see camera health only")
        own = camera is not None and who.partner_id is not None \
            and camera.partner_id == who.partner_id
        return Decision(own, "own partner's camera" if own else "not this partner's camera")
    if action == "configure":
        return Decision(who.role == "admin", "administrators configure")
    if action == "audit" and who.role == "auditor":
        return Decision(True, "auditors read the audit trail")
    if action == "health":
        if who.role in ("admin", "auditor"):
            return Decision(True, f"{who.role} sees every camera's health")
        viewing = [a for a in ("live", "playback", "export")
                   if decide(who, grants, a, camera, at_utc_us).allowed]
        return Decision(bool(viewing), "health of cameras it may view")
    if action not in GRANTABLE[who.role]:
        return Decision(False, f"a {who.role} cannot {action}")
    matching = tuple(g.id for g in grants
                     if g.action == action and g.valid_at(at_utc_us) and g.covers(camera))
    if not matching:
        return Decision(False, "no valid grant for this camera and action")
    needs_case = action in CASE_REQUIRED.get(who.role, frozenset())
    return Decision(True, "granted", needs_case, matching)


def can(who: Principal, grants: Iterable[Grant], action: str, camera: CameraRef | None,
        at_utc_us: int) -> bool:
    return decide(who, grants, action, camera, at_utc_us).allowed
