"""Shared FastAPI dependencies: the service container and the templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from guetteur import __version__
from guetteur.bootstrap import Container
from guetteur.domain.permissions import Principal

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


def render(request: Request, name: str, active: str = "", status_code: int = 200,
           **context: Any) -> Any:
    templates: Jinja2Templates = request.app.state.templates
    state = request.scope.get("state", {})
    who: Principal | None = state.get("principal")
    full = state.get("stage") == "full"
    user = {"username": who.username, "role": who.role} if who and full else None
    nav = NAV.get(who.role, []) if who and full else []
    alert = (request.app.state.container.space.alert()
             if who and full and who.role in STORAGE_ALERT_ROLES else None)
    return templates.TemplateResponse(
        request, name, {"user": user, "active": active, "version": __version__,
                        "csrf_token": state.get("csrf", ""), "nav": nav,
                        "storage_alert": alert, **context},
        status_code=status_code)


# Who sees the « stockage plein » banner: those who run the cameras and the room.
STORAGE_ALERT_ROLES = frozenset({"admin", "supervisor", "operator"})


# The menu each role sees (key, label, path); pages still check rights themselves.
_IMAGES = [("live", "Mur d'images", "/live"), ("cameras", "Caméras", "/cameras"),
           ("playback", "Relecture", "/playback")]
_CASES = ("cases", "Réquisitions", "/cases")
_REGISTER = ("register", "Registre", "/register")
_PLATES = ("plates", "Plaques", "/plates")  # plate search: within a judicial case
NAV: dict[str, list[tuple[str, str, str]]] = {
    "admin": [*_IMAGES, _CASES, _PLATES, ("admin", "Administration", "/admin")],
    "supervisor": [*_IMAGES, _CASES, _PLATES, ("audit", "Journal d'accès", "/audit"),
                   _REGISTER],
    "operator": _IMAGES,
    "investigator": [("cameras", "Caméras", "/cameras"), ("playback", "Relecture", "/playback"),
                     _CASES, _PLATES],
    "landlord": [("portal", "Mes caméras", "/portal")],
    "auditor": [("audit", "Journal d'accès", "/audit"), ("cameras", "Caméras", "/cameras"),
                _CASES, _REGISTER],
}
