"""HTML pages of judicial cases, holds, evidence exports and the register. Thin, like
`routes_pages`: the data comes from the JSON API (`routes_cases`), loaded by each page's script.

What a page offers (forms, buttons) follows the domain's rules (`domain/cases.py`), asked here
once so that the scripts show only what the server will accept; the API decides again on every
request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from guetteur.bootstrap import Container
from guetteur.domain.cases import (
    CASE_READERS_ALL,
    EXPORT_APPROVERS,
    LEGAL_BASES,
    RELEASE_APPROVERS,
    can_create_case,
    check_can_ask_release,
    check_can_export,
    check_can_place_hold,
)
from guetteur.domain.errors import Forbidden
from guetteur.domain.permissions import Principal
from guetteur.domain.timeutil import paris_today
from guetteur.services.register import KINDS
from guetteur.web.deps import container, render
from guetteur.web.routes_plate_pages import PLATE_SEARCH_ROLES
from guetteur.web.session import principal

router = APIRouter(include_in_schema=False)
Dep = Annotated[Container, Depends(container)]
Who = Annotated[Principal, Depends(principal)]
# Who may open the case pages: those who see every case, and investigators (their own cases).
CASE_PAGE_ROLES = CASE_READERS_ALL | {"investigator"}


def _may(check: Callable[..., None], *args: Any) -> bool:
    try:
        check(*args)
    except Forbidden:
        return False
    return True


def _require_case_role(who: Principal) -> None:
    if who.role not in CASE_PAGE_ROLES:
        raise Forbidden("Les réquisitions judiciaires sont réservées aux superviseurs, "
                        "enquêteurs, administrateurs et auditeurs.")


@router.get("/cases")
async def cases_page(request: Request, c: Dep, who: Who) -> Any:
    _require_case_role(who)
    return render(request, "cases.html", active="cases", can_create=can_create_case(who),
                  legal_bases=list(LEGAL_BASES),
                  today=paris_today(c.clock.now_us()).isoformat())


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: int, c: Dep, who: Who) -> Any:
    _require_case_role(who)
    case = await asyncio.to_thread(c.cases.get, who, case_id)  # 404 if not visible
    facts = case.facts
    rights = {
        "place_hold": _may(check_can_place_hold, who, facts),
        "ask_release": _may(check_can_ask_release, who, facts),
        "approve_release": who.enabled and who.role in RELEASE_APPROVERS,
        "export": _may(check_can_export, who, facts),
        # plate reading for the case: the same people as an extraction (services/plates.py)
        "read_plates": _may(check_can_export, who, facts),
        "approve_export": who.enabled and who.role in EXPORT_APPROVERS,
        "cancel_any_export": who.role in ("supervisor", "admin"),
        "close": not case.closed_utc_us and (
            who.role in ("supervisor", "admin")
            or (who.role == "investigator" and case.created_by == who.username)),
    }
    return render(request, "case.html", active="cases", case_id=case.id,
                  reference=case.reference, rights=rights,
                  me={"username": who.username, "role": who.role},
                  approval_required=c.exports.approval_required,
                  plates_search=who.role in PLATE_SEARCH_ROLES)


@router.get("/register")
async def register_page(request: Request, c: Dep, who: Who) -> Any:
    if not await asyncio.to_thread(c.gate.allowed, who, "audit", None):
        raise Forbidden("Le registre est réservé aux auditeurs et aux superviseurs habilités "
                        "à consulter le journal.")
    return render(request, "register.html", active="register", kinds=KINDS)
