"""HTML pages. Thin: data comes from the JSON API, loaded by each page's script. A page that
shows images answers 403 to a user who may not see them (the media routes check again)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from guetteur.bootstrap import Container
from guetteur.domain.cases import EXPORTERS
from guetteur.domain.errors import Forbidden, InvalidInput, NotFound
from guetteur.domain.permissions import GRANTABLE, ROLES, SCOPE_KINDS, Principal
from guetteur.domain.timeutil import paris_day_bounds, paris_today, parse_instant
from guetteur.services.cluster_view import UNREACHABLE_S, node_views
from guetteur.web.deps import container, render
from guetteur.web.routes_auth import landing
from guetteur.web.routes_cameras import camera_json
from guetteur.web.session import principal

router = APIRouter(include_in_schema=False)
Dep = Annotated[Container, Depends(container)]
Who = Annotated[Principal, Depends(principal)]


async def _require(c: Container, who: Principal, action: str, camera_id: int | None,
                   message: str) -> None:
    if not await asyncio.to_thread(c.gate.allowed, who, action, camera_id):
        raise Forbidden(message)


async def _any(c: Container, who: Principal, action: str, message: str) -> set[int]:
    ids = await asyncio.to_thread(c.gate.visible, who, action)
    if not ids:
        raise Forbidden(message)
    return ids


@router.get("/")
async def home(c: Dep, who: Who) -> Any:
    return RedirectResponse(await landing(c, who), status_code=303)


@router.get("/live")
async def live_wall(request: Request, c: Dep, who: Who) -> Any:
    await _any(c, who, "live", "Votre compte ne donne accès à aucune image en direct.")
    return render(request, "live_wall.html", active="live")


@router.get("/live/{camera_id}")
async def live_one(request: Request, camera_id: int, c: Dep, who: Who) -> Any:
    await _require(c, who, "live", camera_id,
                   "Vous n'avez pas le droit de voir cette caméra en direct.")
    cam = await asyncio.to_thread(c.registry.get, camera_id)
    [camera] = await asyncio.to_thread(camera_json, c, [cam], False)
    return render(request, "live_one.html", active="live", camera=camera)


@router.get("/cameras")
async def cameras_page(request: Request, c: Dep, who: Who) -> Any:
    if who.role == "landlord":
        return RedirectResponse("/portal", status_code=303)
    return render(request, "cameras.html", active="cameras")


@router.get("/playback")
async def playback_default(c: Dep, who: Who) -> Any:
    ids = await _any(c, who, "playback", "Votre compte ne donne accès à aucune relecture.")
    return RedirectResponse(f"/playback/{min(ids)}", status_code=303)


@router.get("/playback/{camera_id}")
async def playback(request: Request, camera_id: int, c: Dep, who: Who, day: str | None = None,
                   t: str | None = None) -> Any:
    await _require(c, who, "playback", camera_id,
                   "Vous n'avez pas le droit de relire les images de cette caméra.")
    cam = await asyncio.to_thread(c.registry.get, camera_id)
    allowed = await asyncio.to_thread(c.gate.visible, who, "playback")
    cams = [x for x in await asyncio.to_thread(c.registry.list) if x.id in allowed]
    t_us = parse_instant(t, "t") if t else None
    if day:
        try:
            chosen = date.fromisoformat(day)
        except ValueError:
            raise InvalidInput(f"Jour « {day} » invalide (AAAA-MM-JJ).", "day") from None
    else:
        chosen = paris_today(t_us if t_us is not None else c.clock.now_us())
    start, end = paris_day_bounds(chosen)
    can_export = await asyncio.to_thread(c.gate.allowed, who, "export", camera_id)
    needs_case = (await asyncio.to_thread(c.gate.decision, who, "playback", camera_id)
                  ).needs_case
    [camera] = await asyncio.to_thread(camera_json, c, [cam], False)
    return render(request, "playback.html", active="playback", camera=camera,
                  cameras=[{"id": x.id, "name": x.name} for x in cams], day=chosen.isoformat(),
                  t_utc_us=t_us, day_start_utc_us=start, day_end_utc_us=end,
                  can_export=can_export, needs_case=needs_case,
                  case_exports=can_export and who.role in EXPORTERS)


@router.get("/portal")
async def portal(request: Request, who: Who) -> Any:
    """Landlords: the health of their partner's cameras. Never an image."""
    if who.role != "landlord":
        raise NotFound("Le portail est réservé aux bailleurs partenaires.")
    return render(request, "portal.html", active="portal")


@router.get("/admin")
async def admin_page(request: Request, c: Dep, who: Who) -> Any:
    await _require(c, who, "configure", None, "Page réservée aux administrateurs.")
    # The role table of domain/permissions, so that the forms offer only what the server accepts.
    return render(request, "admin.html", active="admin", roles=list(ROLES),
                  grantable={r: sorted(a) for r, a in GRANTABLE.items()},
                  scope_kinds=list(SCOPE_KINDS))


@router.get("/admin/nodes")
async def nodes_page(request: Request, c: Dep, who: Who) -> Any:
    """The nodes of the cluster (same data as GET /api/admin/nodes), rendered here."""
    await _require(c, who, "configure", None, "Page réservée aux administrateurs.")
    nodes = await asyncio.to_thread(node_views, c.nodes, c.clock.now_us())
    return render(request, "nodes.html", active="admin", nodes=nodes,
                  unreachable_s=UNREACHABLE_S)


@router.get("/audit")
async def audit_page(request: Request, c: Dep, who: Who) -> Any:
    await _require(c, who, "audit", None, "Page réservée aux auditeurs et délégués à la "
                   "protection des données.")
    return render(request, "audit.html", active="audit")
