"""The one mapping from domain errors to HTTP statuses (see domain/errors.py)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from guetteur.domain import errors as e

STATUS: dict[type[e.GuetteurError], int] = {
    e.InvalidInput: 422,
    e.NotFound: 404,
    e.NoFootage: 404,
    e.Conflict: 409,
    e.NotAuthenticated: 401,
    e.Forbidden: 403,
    e.StorageError: 503,
    e.MediaError: 502,
}


def status_of(exc: e.GuetteurError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def install(app: FastAPI) -> None:
    @app.exception_handler(e.GuetteurError)
    async def _domain_error(_request: Request, exc: e.GuetteurError) -> JSONResponse:
        body: dict[str, object] = {"error": type(exc).__name__, "message": exc.message}
        if isinstance(exc, e.InvalidInput) and exc.field:
            body["field"] = exc.field
        return JSONResponse(body, status_code=status_of(exc))
