"""The one mapping from domain errors to HTTP statuses (see domain/errors.py)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError

from guetteur.adapters.storage.space import is_disk_full
from guetteur.domain import errors as e

DISK_FULL = ("Stockage plein : l'action n'a pas pu être enregistrée. Guetteur libère de "
             "l'espace de lui-même (images les plus anciennes non protégées) ; réessayez dans "
             "une minute, et si cela persiste prévenez l'administrateur (disque à agrandir).")

STATUS: dict[type[e.GuetteurError], int] = {
    e.InvalidInput: 422,
    e.RangeNotSatisfiable: 416,
    e.TooLarge: 413,
    e.NotFound: 404,
    e.NoFootage: 404,
    e.Conflict: 409,
    e.NotAuthenticated: 401,
    e.Forbidden: 403,
    e.StorageError: 503,
    e.InsufficientStorage: 507,
    e.MediaError: 502,
}


def status_of(exc: e.GuetteurError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _wants_html(request: Request) -> bool:
    return (request.method == "GET" and not request.url.path.startswith("/api/")
            and "text/html" in request.headers.get("accept", ""))


def install(app: FastAPI) -> None:
    @app.exception_handler(e.GuetteurError)
    async def _domain_error(request: Request, exc: e.GuetteurError) -> Any:
        status = status_of(exc)
        if _wants_html(request):
            from guetteur.web.deps import render

            return render(request, "error.html", status_code=status, message=exc.message,
                          status=status)
        body: dict[str, object] = {"error": type(exc).__name__, "message": exc.message}
        if isinstance(exc, e.InvalidInput) and exc.field:
            body["field"] = exc.field
        headers = ({"Content-Range": f"bytes */{exc.size_bytes}"}
                   if isinstance(exc, e.RangeNotSatisfiable) else None)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, _exc: Exception) -> Any:
        """A number beyond what the database stores (an id or an instant of 2**70): bad
        input, not a server error (SQLite raises OverflowError, PostgreSQL a DataError)."""
        return await _domain_error(request, e.InvalidInput(
            "Valeur hors des limites acceptées (identifiant ou instant trop grand)."))

    @app.exception_handler(OperationalError)
    async def _disk_full(request: Request, exc: Exception) -> Any:
        """The database out of disk space (SQLite "database or disk is full", PostgreSQL
        DiskFull): 507 with what to do, never a 500. Other database errors stay 500s. (File
        writes translate ENOSPC at their adapter, into InsufficientStorage.)"""
        if not is_disk_full(exc):
            raise exc
        return await _domain_error(request, e.InsufficientStorage(DISK_FULL))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """Same shape as domain errors; never echoes the rejected value (it may be a
        password)."""
        problems = []
        field = None
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            field = field or (loc[-1] if loc else None)
            problems.append(f"{'.'.join(loc) or 'requête'} : {err.get('msg', 'invalide')}")
        body: dict[str, object] = {"error": "InvalidInput",
                                   "message": "Requête invalide — " + " ; ".join(problems)}
        if field:
            body["field"] = field
        return JSONResponse(body, status_code=422)
