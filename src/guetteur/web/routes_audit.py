"""The audit trail for auditors (and supervisors with the audit grant): search, CSV register,
chain verification (with the signed checkpoints and the newest one's age). Reading the trail
is itself audited (`audit_read`, `audit_export`)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from guetteur.bootstrap import Container
from guetteur.domain.permissions import Principal
from guetteur.domain.timeutil import parse_instant
from guetteur.services.audit import to_csv
from guetteur.web.deps import container
from guetteur.web.session import client_addr, csrf_protect, principal

router = APIRouter(prefix="/api/audit", tags=["audit"], dependencies=[Depends(csrf_protect)])
Dep = Annotated[Container, Depends(container)]
Who = Annotated[Principal, Depends(principal)]
VIEW_ACTIONS = ["live", "live_end", "playback", "export", "live_denied", "playback_denied",
                "export_denied"]


def _bounds(from_: str | None, to: str | None) -> tuple[int | None, int | None]:
    return (parse_instant(from_, "from") if from_ else None,
            parse_instant(to, "to") if to else None)


@router.get("")
async def search(request: Request, c: Dep, who: Who,
                 from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
                 to: Annotated[str | None, Query(max_length=64)] = None,
                 username: Annotated[str | None, Query(max_length=64)] = None,
                 camera_id: int | None = None,
                 views_only: bool = False,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    """Events newest first; `views_only`: who viewed or exported what (the register)."""
    await asyncio.to_thread(c.gate.authorize, who, "audit")
    start, end = _bounds(from_, to)
    events, total = await asyncio.to_thread(
        lambda: c.audit.query(username=username, camera_id=camera_id, from_utc_us=start,
                              to_utc_us=end, actions=VIEW_ACTIONS if views_only else None,
                              limit=limit, offset=offset))
    await asyncio.to_thread(c.audit.append, "audit_read", user_id=who.user_id,
                            username=who.username, client_addr=client_addr(request),
                            detail={"filter": {"username": username, "camera_id": camera_id,
                                               "from": start, "to": end}})
    return {"total": total, "events": events}


@router.get(".csv")
async def export_csv(request: Request, c: Dep, who: Who,
                     from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
                     to: Annotated[str | None, Query(max_length=64)] = None) -> Any:
    await asyncio.to_thread(c.gate.authorize, who, "audit")
    start, end = _bounds(from_, to)
    await asyncio.to_thread(c.audit.append, "audit_export", user_id=who.user_id,
                            username=who.username, client_addr=client_addr(request),
                            range_from_utc_us=start, range_to_utc_us=end)
    return StreamingResponse(to_csv(c.audit.iter_events(start, end)), media_type="text/csv",
                             headers={"Content-Disposition":
                                      'attachment; filename="guetteur-registre-acces.csv"'})


@router.post("/verify")
async def verify_chain(c: Dep, who: Who) -> dict[str, Any]:
    await asyncio.to_thread(c.gate.authorize, who, "audit")
    report = await asyncio.to_thread(c.checkpoints.verify, c.settings.db_url, 2)
    return report.public()
