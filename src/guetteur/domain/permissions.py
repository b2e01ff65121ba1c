"""Who may do what: the one pure decision function `can`.

This first version knows the roles the recording foundation needs: `admin` (configuration and,
in this version, every image right on every camera) and `landlord` (never a pixel; the health of
its own partner's cameras needs the user-to-partner link of the access-control issue, so until
then a landlord account is refused everything). Finer grants (action x scope x validity) extend
this function; every route that returns pixels already goes through it (`services/access.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["live", "playback", "export", "configure", "health", "audit"]
PIXEL_ACTIONS: frozenset[str] = frozenset({"live", "playback", "export"})
ROLES = ("admin", "landlord")


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    enabled: bool = True


def can(who: Principal, action: str, camera_id: int | None = None) -> bool:
    if not who.enabled:
        return False
    return who.role == "admin"
