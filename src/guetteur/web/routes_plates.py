"""Plate reading for a case and plate search (JSON API); the passage crops are pixels, so they
go through the gate like every media route."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from guetteur.bootstrap import Container
from guetteur.domain.errors import NotFound
from guetteur.domain.permissions import Principal
from guetteur.domain.timeutil import iso_paris, iso_utc, parse_instant
from guetteur.web.deps import container
from guetteur.web.media_file import MediaFile, open_media
from guetteur.web.routes_media import media_route
from guetteur.web.session import client_addr, csrf_protect, principal

router = APIRouter(tags=["plaques"], dependencies=[Depends(csrf_protect)])
Dep = Annotated[Container, Depends(container)]
Who = Annotated[Principal, Depends(principal)]
Instant = Annotated[str, Field(min_length=1, max_length=64)]


class AnalyseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    camera_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1,
                                                                         max_length=500)
    from_: Instant = Field(alias="from")
    to: Instant
    thorough: bool = False


@router.post("/api/cases/{case_id}/plates", status_code=202)
async def analyse(case_id: int, body: AnalyseIn, request: Request, c: Dep,
                  who: Who) -> dict[str, Any]:
    start, end = parse_instant(body.from_, "from"), parse_instant(body.to, "to")
    job = await asyncio.to_thread(c.plates.analyse, who, case_id, body.camera_ids, start, end,
                                  client_addr(request), thorough=body.thorough)
    return job.public(c.clock.now_us())


@router.get("/api/cases/{case_id}/plates")
async def case_jobs(case_id: int, c: Dep, who: Who) -> list[dict[str, Any]]:
    jobs = await asyncio.to_thread(c.plates.jobs_for_case, who, case_id)
    now = c.clock.now_us()
    return [j.public(now) for j in jobs]


@router.get("/api/plate-jobs/{job_id}")
async def get_job(job_id: int, c: Dep, who: Who) -> dict[str, Any]:
    job = await asyncio.to_thread(c.plates.job, job_id, who)
    return job.public(c.clock.now_us())


@router.post("/api/plate-jobs/{job_id}/cancel")
async def cancel_job(job_id: int, request: Request, c: Dep, who: Who) -> dict[str, Any]:
    job = await asyncio.to_thread(c.plates.cancel, who, job_id, client_addr(request))
    return job.public(c.clock.now_us())


@router.get("/api/plates/search")
async def search(request: Request, c: Dep, who: Who,
                 q: Annotated[str, Query(min_length=1, max_length=32)],
                 fuzzy: Annotated[int, Query(ge=0, le=2)] = 0,
                 case: Annotated[str | None, Query(max_length=64)] = None,
                 camera_id: Annotated[list[int] | None, Query(max_length=500)] = None,
                 from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
                 to: Annotated[str | None, Query(max_length=64)] = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    start = parse_instant(from_, "from") if from_ else None
    end = parse_instant(to, "to") if to else None
    hits = await asyncio.to_thread(lambda: c.plates.search(
        who, q, fuzzy, case, camera_id, start, end, limit, client_addr(request)))
    names = {v.id: v.name for v in await asyncio.to_thread(c.registry.list)}
    return {"query": q, "fuzzy": fuzzy, "hits": [{
        "passage_id": h.passage_id, "camera_id": h.camera_id,
        "camera": names.get(h.camera_id, str(h.camera_id)), "plate": h.display,
        "compact": h.compact, "kind": h.kind, "confidence": round(h.confidence, 3),
        "reads": h.reads, "distance": h.distance, "first_utc_us": h.first_utc_us,
        "last_utc_us": h.last_utc_us, "first_utc": iso_utc(h.first_utc_us),
        "first_paris": iso_paris(h.first_utc_us),
        "crop_url": f"/api/plates/passages/{h.passage_id}/crop.jpg" if h.crop_key else None,
        "playback_url": f"/playback/{h.camera_id}?t={h.first_utc_us}"} for h in hits]}


@router.get(media_route("/plates/passages/{passage_id}/crop.jpg", prefix="/api"))
async def crop(passage_id: int, request: Request, c: Dep, who: Who,
               reason: Annotated[str | None, Query(max_length=256)] = None) -> Any:
    """The picture of a plate: the playback right on its camera, decided and audited."""
    from guetteur.adapters.db.plate_models import PlatePassage

    def row() -> Any:
        with c.sessions() as db:
            found = db.execute(select(PlatePassage.camera_id, PlatePassage.crop_key,
                                      PlatePassage.first_utc_us, PlatePassage.case_id)
                               .where(PlatePassage.id == passage_id)).first()
        return found if found is not None and found.crop_key else None

    addr = client_addr(request)
    detail = {"plate_passage": passage_id}
    found = await asyncio.to_thread(row)
    case_ref = reason
    if found is not None and found.case_id is not None:  # only for who sees the case
        try:
            case_ref = (await asyncio.to_thread(c.cases.get, who, found.case_id)).reference
        except NotFound:
            found = None  # a case it may not see: as if the passage did not exist
    if found is None:  # decided and audited as an unknown object (403, or 404)
        await asyncio.to_thread(c.gate.authorize_media, who, "playback", None,
                                client_addr=addr, reason=reason, detail=detail,
                                unavailable=NotFound("Vignette inconnue."))
    opened = await asyncio.to_thread(open_media, c.plates.crop_path(found.crop_key), request)
    await asyncio.to_thread(c.gate.authorize_media, who, "playback", found.camera_id,
                            range_from_utc_us=found.first_utc_us,
                            range_to_utc_us=found.first_utc_us, client_addr=addr,
                            reason=case_ref, detail=detail, unavailable=None if opened else
                            NotFound("Le fichier de cette vignette n'existe plus."))
    assert opened is not None
    return MediaFile(opened, "image/jpeg")
