"""HTML pages: live wall, single live view, camera list, playback. Thin: data comes from the
JSON API, loaded by the page's script."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from guetteur.bootstrap import Container
from guetteur.domain.errors import InvalidInput, NotFound
from guetteur.domain.timeutil import paris_day_bounds, paris_today, parse_instant
from guetteur.web.deps import container, render
from guetteur.web.routes_cameras import camera_json

router = APIRouter(include_in_schema=False)
Dep = Annotated[Container, Depends(container)]


@router.get("/")
def home() -> Any:
    return RedirectResponse("/live", status_code=303)


@router.get("/live")
def live_wall(request: Request) -> Any:
    return render(request, "live_wall.html", active="live")


@router.get("/live/{camera_id}")
async def live_one(request: Request, camera_id: int, c: Dep) -> Any:
    cam = await asyncio.to_thread(c.registry.get, camera_id)
    # the template shows the recording state: camera_json adds it to the public fields
    [camera] = await asyncio.to_thread(camera_json, c, [cam])
    return render(request, "live_one.html", active="live", camera=camera)


@router.get("/cameras")
def cameras_page(request: Request) -> Any:
    return render(request, "cameras.html", active="cameras")


@router.get("/playback")
async def playback_default(c: Dep) -> Any:
    cams = await asyncio.to_thread(c.registry.list)
    if not cams:
        raise NotFound("Aucune caméra enregistrée.")
    return RedirectResponse(f"/playback/{cams[0].id}", status_code=303)


@router.get("/playback/{camera_id}")
async def playback(request: Request, camera_id: int, c: Dep, day: str | None = None,
                   t: str | None = None) -> Any:
    cam = await asyncio.to_thread(c.registry.get, camera_id)
    cams = await asyncio.to_thread(c.registry.list)
    t_us = parse_instant(t, "t") if t else None
    if day:
        try:
            chosen = date.fromisoformat(day)
        except ValueError:
            raise InvalidInput(f"Jour « {day} » invalide (AAAA-MM-JJ).", "day") from None
    else:
        chosen = paris_today(t_us if t_us is not None else c.clock.now_us())
    start, end = paris_day_bounds(chosen)
    return render(request, "playback.html", active="playback", camera=cam.public(),
                  cameras=[{"id": x.id, "name": x.name} for x in cams], day=chosen.isoformat(),
                  t_utc_us=t_us, day_start_utc_us=start, day_end_utc_us=end)
