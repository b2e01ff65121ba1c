"""The FastAPI application factory. Nothing is built at import time: `create_app(container)`
gets everything from `bootstrap`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from guetteur import __version__
from guetteur.bootstrap import Container
from guetteur.roles import parse_roles
from guetteur.roles.web import serves_public_routes
from guetteur.web import (
    errors,
    routes_admin,
    routes_audit,
    routes_auth,
    routes_cameras,
    routes_case_pages,
    routes_cases,
    routes_media,
    routes_metrics,
    routes_open_media,
    routes_pages,
    routes_plate_pages,
    routes_plates,
)
from guetteur.web.body_limit import BodyLimitMiddleware
from guetteur.web.deps import STATIC_DIR, TEMPLATES_DIR
from guetteur.web.session import SessionMiddleware


def create_app(container: Container, *, run_background: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if run_background:
            await container.start()
        try:
            yield
        finally:
            if run_background:
                await container.stop()

    app = FastAPI(title="Guetteur", version=__version__, lifespan=lifespan,
                  description="Vidéoprotection urbaine : caméras, enregistrement, direct, "
                              "relecture, extraits.")
    app.state.container = container
    app.state.templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    # a node without the web role serves no public route (roles/web.py): /healthz only
    public = serves_public_routes(parse_roles(container.settings.roles))
    if public:
        app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Any:
        """200 "ok", or 503 "degraded" while the storage is short of space (footage deleted
        early in the last hour, or recording interrupted): a monitor alerts on the status
        code, a person reads `storage.message`. The web interface keeps working either way."""
        storage = container.space.health()
        body = {"status": "ok", "version": __version__, "storage": storage}
        if storage is not None and storage["degraded"]:
            return JSONResponse(body | {"status": "degraded"}, status_code=503)
        return body

    for module in (routes_auth, routes_pages, routes_cameras, routes_media, routes_open_media,
                   routes_admin, routes_audit, routes_cases, routes_plates, routes_case_pages,
                   routes_plate_pages):
        if public:
            app.include_router(module.router)
    app.include_router(routes_metrics.router)  # every node: Prometheus scrapes them all
    errors.install(app)
    if public:  # a non-web node has no session: nothing answers 401, everything else is 404
        app.add_middleware(SessionMiddleware, accounts=container.accounts)
    app.add_middleware(routes_metrics.MediaCountMiddleware, c=container)
    # outermost: no body past the cap reaches the session check, a form parser or a handler
    app.add_middleware(BodyLimitMiddleware, max_bytes=container.settings.max_body_bytes)
    return app
