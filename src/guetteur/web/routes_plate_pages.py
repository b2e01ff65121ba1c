"""The plate search page (GET /plates). Thin, like `routes_case_pages`: plates.js asks the JSON
API (`routes_plates`: GET /api/plates/search, GET /api/cases, GET /api/cameras) and the API
decides again on every request.

Who may open it: the roles that may read plates in a judicial case (supervisors, investigators,
administrators). In the default `commune` mode a search names a case the user sees; the page
says so, and the server's refusal of a search without one is shown as it is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from guetteur.bootstrap import Container
from guetteur.domain.errors import Forbidden
from guetteur.domain.permissions import Principal
from guetteur.web.deps import container, render
from guetteur.web.session import principal

router = APIRouter(include_in_schema=False)
Dep = Annotated[Container, Depends(container)]
Who = Annotated[Principal, Depends(principal)]
PLATE_SEARCH_ROLES = frozenset({"admin", "supervisor", "investigator"})


@router.get("/plates")
async def plates_page(request: Request, c: Dep, who: Who, case: str | None = None) -> Any:
    if who.role not in PLATE_SEARCH_ROLES:
        raise Forbidden("La recherche de plaques est réservée aux superviseurs, enquêteurs et "
                        "administrateurs, dans le cadre d'une réquisition judiciaire.")
    return render(request, "plates.html", active="plates", mode=c.plates.mode,
                  preselect_case=(case or "")[:64])
