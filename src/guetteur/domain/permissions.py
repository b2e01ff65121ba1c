"""Who may do what: the one pure decision function `can`.

This first version knows the roles the recording foundation needs: `admin` (configuration and,
in this version, every image right on every camera) and `landlord` (camera health of its own
partner only, never a pixel). Finer grants (action x scope x validity) extend this function;
every route that returns pixels already goes through it (see `services/access.py`).
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
    if who.role == "landlord":
        return action == "health"
    return who.role == "admin"
