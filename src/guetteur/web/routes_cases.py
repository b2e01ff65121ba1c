"""Judicial cases, holds, evidence exports and the register (JSON API and the printable
register). Rights are the domain's; every change and every access is audited by the services."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from guetteur.bootstrap import Container
from guetteur.domain.errors import NotFound, RangeNotSatisfiable
from guetteur.domain.permissions import Principal
from guetteur.domain.timeutil import iso_paris, parse_instant
from guetteur.services.register import KINDS, to_csv, to_html
from guetteur.web.deps import container
from guetteur.web.media_file import MediaFile, open_media
from guetteur.web.routes_media import media_route
from guetteur.web.session import client_addr, csrf_protect, principal

router = APIRouter(tags=["réquisitions"], dependencies=[Depends(csrf_protect)])
Dep = Annotated[Container, Depends(container)]
Who = Annotated[Principal, Depends(principal)]
Instant = Annotated[str, Field(min_length=1, max_length=64,
                               description="ISO 8601 (Paris time if no offset) or UTC µs")]


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str = Field(max_length=64)
    service: str = Field(max_length=128)
    officer: str = Field(max_length=128)
    requisition_date: str = Field(max_length=10, description="AAAA-MM-JJ")
    legal_basis: str = Field(max_length=128)
    description: str | None = Field(None, max_length=2000)


class RangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    camera_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1,
                                                                         max_length=500)
    from_: Instant = Field(alias="from")
    to: Instant


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=500)


def _range(body: RangeIn) -> tuple[int, int]:
    return parse_instant(body.from_, "from"), parse_instant(body.to, "to")


# -- cases -----------------------------------------------------------------------------------
@router.get("/api/cases")
async def list_cases(c: Dep, who: Who) -> list[dict[str, Any]]:
    return [v.public() for v in await asyncio.to_thread(c.cases.list, who)]


@router.post("/api/cases", status_code=201)
async def create_case(body: CaseIn, request: Request, c: Dep, who: Who) -> dict[str, Any]:
    view = await asyncio.to_thread(
        lambda: c.cases.create(who, reference=body.reference, service=body.service,
                               officer=body.officer, requisition_date=body.requisition_date,
                               legal_basis=body.legal_basis, description=body.description,
                               client_addr=client_addr(request)))
    return view.public()


@router.get("/api/cases/{case_id}")
async def get_case(case_id: int, c: Dep, who: Who) -> dict[str, Any]:
    def load() -> dict[str, Any]:
        view = c.cases.get(who, case_id)
        now = c.clock.now_us()
        return view.public() | {
            "holds": [h.public() for h in c.cases.holds(who, case=view.id)],
            "exports": [j.public(now) for j in c.exports.for_case(who, view.id)]}
    return await asyncio.to_thread(load)


@router.post("/api/cases/{case_id}/close")
async def close_case(case_id: int, request: Request, c: Dep, who: Who) -> dict[str, Any]:
    view = await asyncio.to_thread(c.cases.close, who, case_id, client_addr(request))
    return view.public()


# -- holds -----------------------------------------------------------------------------------
@router.post("/api/cases/{case_id}/holds", status_code=201)
async def place_holds(case_id: int, body: RangeIn, request: Request, c: Dep,
                      who: Who) -> list[dict[str, Any]]:
    start, end = _range(body)
    holds = await asyncio.to_thread(c.cases.place_holds, who, case_id, body.camera_ids, start,
                                    end, client_addr(request))
    return [h.public() for h in holds]


@router.get("/api/holds")
async def list_holds(c: Dep, who: Who, camera_id: int | None = None) -> list[dict[str, Any]]:
    holds = await asyncio.to_thread(lambda: c.cases.holds(who, camera_id=camera_id))
    return [h.public() for h in holds]


@router.post("/api/holds/{hold_id}/release")
async def ask_release(hold_id: int, body: ReleaseIn, request: Request, c: Dep,
                      who: Who) -> dict[str, Any]:
    view = await asyncio.to_thread(c.cases.ask_release, who, hold_id, body.reason,
                                   client_addr(request))
    return view.public()


@router.post("/api/holds/{hold_id}/approve")
async def approve_release(hold_id: int, request: Request, c: Dep, who: Who) -> dict[str, Any]:
    view = await asyncio.to_thread(c.cases.approve_release, who, hold_id, client_addr(request))
    return view.public()


@router.post("/api/holds/{hold_id}/cancel")
async def cancel_release(hold_id: int, request: Request, c: Dep, who: Who) -> dict[str, Any]:
    view = await asyncio.to_thread(c.cases.cancel_release, who, hold_id, client_addr(request))
    return view.public()


# -- exports ---------------------------------------------------------------------------------
@router.post("/api/cases/{case_id}/exports", status_code=202)
async def create_export(case_id: int, body: RangeIn, request: Request, c: Dep,
                        who: Who) -> dict[str, Any]:
    start, end = _range(body)
    job = await asyncio.to_thread(c.exports.create, who, case_id, body.camera_ids, start, end,
                                  client_addr(request))
    return job.public(c.clock.now_us())


@router.get("/api/exports/{job_id}")
async def get_export(job_id: int, c: Dep, who: Who) -> dict[str, Any]:
    job = await asyncio.to_thread(c.exports.get, who, job_id)
    return job.public(c.clock.now_us())


@router.post("/api/exports/{job_id}/cancel")
async def cancel_export(job_id: int, request: Request, c: Dep, who: Who) -> dict[str, Any]:
    job = await asyncio.to_thread(c.exports.cancel, who, job_id, client_addr(request))
    return job.public(c.clock.now_us())


@router.post("/api/exports/{job_id}/approve")
async def approve_export(job_id: int, request: Request, c: Dep, who: Who) -> dict[str, Any]:
    job = await asyncio.to_thread(c.exports.approve, who, job_id, client_addr(request))
    return job.public(c.clock.now_us())


@router.get(media_route("/exports/{job_id}/download", prefix="/api"))
async def download_export(job_id: int, request: Request, c: Dep, who: Who) -> Any:
    """The package: pixels, so the gate decides (and audits) every camera in it first. The
    job and its file are resolved before, so a package that cannot be given is written down
    as refused with why ("not found", "not available"), never as granted."""
    addr = client_addr(request)
    try:
        job, path, problem = await asyncio.to_thread(c.exports.package_for, who, job_id)
    except NotFound as exc:  # unknown job, or a case it may not see: 403, or 404
        await asyncio.to_thread(c.gate.authorize_media, who, "export", None, client_addr=addr,
                                detail={"export": job_id, "stage": "download"},
                                unavailable=exc)
        raise
    opened = await asyncio.to_thread(open_media, path, request) if path else None
    if path and opened is None:
        problem = NotFound("Le fichier de cette extraction n'existe plus sur le serveur.")
    elif opened is not None and opened.plan.status == 416:
        problem = RangeNotSatisfiable("Plage d'octets hors du fichier.", opened.size_bytes)
    await asyncio.to_thread(c.exports.authorize_download, who, job, addr, problem)
    assert path is not None and opened is not None
    _, name = await asyncio.to_thread(c.exports.hand_over, who, job, path, addr)
    return MediaFile(opened, "application/zip", filename=name)


@router.get("/api/evidence/public-key")
async def public_key(c: Dep, who: Who) -> dict[str, str]:
    if who.role == "landlord":
        from guetteur.domain.errors import Forbidden

        raise Forbidden("Action non autorisée pour votre compte.")
    return c.exports.public_key()


# -- register --------------------------------------------------------------------------------
def _bounds(from_: str | None, to: str | None) -> tuple[int | None, int | None]:
    return (parse_instant(from_, "from") if from_ else None,
            parse_instant(to, "to") if to else None)


async def _read_register(c: Container, who: Principal, request: Request, action: str,
                         start: int | None, end: int | None) -> None:
    await asyncio.to_thread(c.gate.authorize, who, "audit")
    await asyncio.to_thread(c.audit.append, action, user_id=who.user_id, username=who.username,
                            client_addr=client_addr(request), range_from_utc_us=start,
                            range_to_utc_us=end)


FromQ = Annotated[str | None, Query(alias="from", max_length=64)]
ToQ = Annotated[str | None, Query(max_length=64)]
KindQ = Annotated[list[str] | None, Query(max_length=20)]


@router.get("/api/register")
async def register(request: Request, c: Dep, who: Who, from_: FromQ = None, to: ToQ = None,
                   kind: KindQ = None,
                   limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict[str, Any]:
    start, end = _bounds(from_, to)
    await _read_register(c, who, request, "register_read", start, end)
    entries = await asyncio.to_thread(lambda: list(c.register.entries(
        start, end, kind, limit=limit, newest_first=True)))
    return {"kinds": KINDS, "entries": entries}


@router.get("/api/register.csv")
async def register_csv(request: Request, c: Dep, who: Who, from_: FromQ = None, to: ToQ = None,
                       kind: KindQ = None) -> Any:
    start, end = _bounds(from_, to)
    await _read_register(c, who, request, "register_export", start, end)
    return StreamingResponse(to_csv(c.register.entries(start, end, kind)),
                             media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition":
                                      'attachment; filename="guetteur-registre.csv"'})


@router.get("/register/print", response_class=HTMLResponse)
async def register_print(request: Request, c: Dep, who: Who, from_: FromQ = None,
                         to: ToQ = None, kind: KindQ = None) -> Any:
    start, end = _bounds(from_, to)
    await _read_register(c, who, request, "register_export", start, end)
    html = await asyncio.to_thread(
        lambda: to_html(list(c.register.entries(start, end, kind)), start, end,
                        who.username, iso_paris(c.clock.now_us())))
    return HTMLResponse(html)
