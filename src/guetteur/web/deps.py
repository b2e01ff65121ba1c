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
    who: Principal | None = request.scope.get("state", {}).get("principal")
    user = {"username": who.username, "role": who.role} if who else None
    return templates.TemplateResponse(
        request, name, {"user": user, "active": active, "version": __version__, **context},
        status_code=status_code)
