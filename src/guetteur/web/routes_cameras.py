"""JSON API for cameras, partners, timelines and stream states."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from guetteur.bootstrap import Container
from guetteur.domain.cameras import CameraSpec, Credentials
from guetteur.domain.permissions import Principal
from guetteur.domain.timeutil import parse_instant
from guetteur.services.registry import CameraView
from guetteur.services.status import read_health
from guetteur.web.deps import container
from guetteur.web.session import csrf_protect, principal

router = APIRouter(prefix="/api", tags=["cameras"], dependencies=[Depends(csrf_protect)])
Dep = Annotated[Container, Depends(container)]
Who = Annotated[Principal, Depends(principal)]


class CameraIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    main_url: str = Field(max_length=2048)
    sub_url: str | None = Field(None, max_length=2048)
    username: str | None = Field(None, max_length=128)
    password: str | None = Field(None, max_length=256)
    owner: str = "city"
    site: str | None = Field(None, max_length=128)
    latitude: float | None = None
    longitude: float | None = None
    purposes: list[str] = Field(default_factory=list, max_length=20)
    authorisation_ref: str | None = Field(None, max_length=128)
    authorisation_expiry: date | None = None
    retention_days: int = 30
    enabled: bool = True


class CameraPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=64)
    main_url: str | None = Field(None, max_length=2048)
    sub_url: str | None = Field(None, max_length=2048)
    username: str | None = Field(None, max_length=128)
    password: str | None = Field(None, max_length=256)
    owner: str | None = None
    site: str | None = Field(None, max_length=128)
    latitude: float | None = None
    longitude: float | None = None
    purposes: list[str] | None = Field(None, max_length=20)
    authorisation_ref: str | None = Field(None, max_length=128)
    authorisation_expiry: date | None = None
    retention_days: int | None = None
    enabled: bool | None = None


class PartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=128)


HEALTH_FIELDS = ("id", "name", "site", "owner", "enabled", "retention_days", "latitude",
                 "longitude", "purposes", "authorisation_ref", "authorisation_expiry")


def camera_json(c: Container, views: list[CameraView],
                full: bool = True) -> list[dict[str, Any]]:
    """Cameras with their recording state. `full=False` (everyone but administrators) leaves
    out the stream addresses and the recorder assignment."""
    health = read_health(c.sessions, c.clock.now_us())
    stats = c.index.stats()
    out = []
    for v in views:
        data = v.public()
        if not full:
            data = {k: data[k] for k in HEALTH_FIELDS}
            data["has_sub"] = v.sub_url is not None
        h = health.get((v.id, "main"))
        state = "disabled" if not v.enabled else (h.state if h else "starting")
        s = stats.get((v.id, "main"))
        data.update(state=state, state_since_utc_us=h.since_utc_us if h else None,
                    last_error=h.last_error if h and state != "recording" else None,
                    last_segment_end_utc_us=s.last_end_utc_us if s else None,
                    segments=s.segments if s else 0, size_bytes=s.size_bytes if s else 0)
        out.append(data)
    return out


def _with_rights(c: Container, who: Principal, rows: list[dict[str, Any]]) -> None:
    """Tell the UI what this user may do on each camera (the server checks again)."""
    rights = {a: c.gate.visible(who, a) for a in ("live", "playback", "export")}
    for row in rows:
        row["can"] = [a for a, ids in rights.items() if row["id"] in ids]


@router.get("/cameras")
async def list_cameras(c: Dep, who: Who) -> list[dict[str, Any]]:
    """The cameras whose health this user may see (a landlord: its partner's only)."""
    visible = await asyncio.to_thread(c.gate.visible, who, "health")
    views = [v for v in await asyncio.to_thread(c.registry.list) if v.id in visible]
    full = await asyncio.to_thread(c.gate.allowed, who, "configure", None)
    rows = await asyncio.to_thread(camera_json, c, views, full)
    await asyncio.to_thread(_with_rights, c, who, rows)
    return rows


@router.get("/cameras/{camera_id}")
async def get_camera(camera_id: int, c: Dep, who: Who) -> dict[str, Any]:
    await asyncio.to_thread(c.gate.authorize, who, "health", camera_id)
    view = await asyncio.to_thread(c.registry.get, camera_id)
    full = await asyncio.to_thread(c.gate.allowed, who, "configure", camera_id)
    rows = await asyncio.to_thread(camera_json, c, [view], full)
    await asyncio.to_thread(_with_rights, c, who, rows)
    return rows[0]


@router.post("/cameras", status_code=201)
async def add_camera(body: CameraIn, c: Dep, who: Who) -> dict[str, Any]:
    await asyncio.to_thread(c.gate.authorize, who, "configure")
    fields = body.model_dump(exclude={"username", "password"})
    fields["purposes"] = tuple(fields["purposes"])
    creds = Credentials(body.username, body.password or "") if body.username else None
    view = await asyncio.to_thread(c.registry.add, CameraSpec(**fields, credentials=creds),
                                   who.username)
    return (await asyncio.to_thread(camera_json, c, [view]))[0]


@router.patch("/cameras/{camera_id}")
async def update_camera(camera_id: int, body: CameraPatch, c: Dep, who: Who) -> dict[str, Any]:
    await asyncio.to_thread(c.gate.authorize, who, "configure", camera_id)
    changes = body.model_dump(exclude_unset=True, exclude={"username", "password"})
    if body.username is not None:
        changes["credentials"] = (Credentials(body.username, body.password or "")
                                  if body.username else None)
    view = await asyncio.to_thread(lambda: c.registry.update(camera_id, who.username,
                                                             **changes))
    return (await asyncio.to_thread(camera_json, c, [view]))[0]


@router.delete("/cameras/{camera_id}", status_code=204)
async def remove_camera(camera_id: int, c: Dep, who: Who) -> Response:
    await asyncio.to_thread(c.gate.authorize, who, "configure", camera_id)
    await asyncio.to_thread(c.registry.remove, camera_id, who.username)
    return Response(status_code=204)


@router.get("/cameras/{camera_id}/timeline")
async def timeline(camera_id: int, c: Dep, who: Who, stream: str = "main",
                   from_: Annotated[str, Query(alias="from")] = "",
                   to: str = "") -> dict[str, Any]:
    await asyncio.to_thread(c.gate.authorize, who, "health", camera_id)
    await asyncio.to_thread(c.registry.get, camera_id)
    now = c.clock.now_us()
    start = parse_instant(from_, "from") if from_ else now - 86_400_000_000
    end = parse_instant(to, "to") if to else now
    spans, gaps = await asyncio.to_thread(c.open_segments.timeline, camera_id, stream, start,
                                          end, now)
    holds: list[dict[str, Any]] = []
    # judicial holds show to whoever may see this footage (never to a landlord); the case
    # reference only to those who handle cases
    if c.gate.allowed(who, "playback", camera_id) or c.gate.allowed(who, "export", camera_id):
        holds = await asyncio.to_thread(c.cases.timeline_holds, camera_id, start, end)
        if who.role == "operator":
            holds = [h | {"case_reference": None} for h in holds]
    return {"camera_id": camera_id, "from_utc_us": start, "to_utc_us": end, "now_utc_us": now,
            "spans": [s.__dict__ for s in spans], "gaps": [g.__dict__ for g in gaps],
            "holds": holds}


@router.get("/partners", tags=["partners"])
async def list_partners(c: Dep, who: Who) -> list[dict[str, Any]]:
    await asyncio.to_thread(c.gate.authorize, who, "configure")
    return await asyncio.to_thread(c.registry.list_partners)


@router.post("/partners", tags=["partners"], status_code=201)
async def add_partner(body: PartnerIn, c: Dep, who: Who) -> dict[str, Any]:
    await asyncio.to_thread(c.gate.authorize, who, "configure")
    pid = await asyncio.to_thread(c.registry.add_partner, body.name, who.username)
    return {"id": pid, "name": body.name.strip()}
