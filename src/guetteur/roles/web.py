"""What runs on a `web` node: the public interface and API for people.

- the HTTP routes of the UI and the API (mounted by `web/app.py` only on this role; a node
  without it answers /healthz only, and later its internal API, with 404 elsewhere);
- the live hub (viewers of a camera share one reader of the segment being written);
- the access gate and login guard are built for every node (CLI commands use them too), but
  only this role lets a request reach them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guetteur.services.live import LiveHub

if TYPE_CHECKING:
    from guetteur.bootstrap import Container


def start(c: Container) -> None:
    c.live = LiveHub(c.current_path)


def serves_public_routes(roles: frozenset[str]) -> bool:
    return "web" in roles
