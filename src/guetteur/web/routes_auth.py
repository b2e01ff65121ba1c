"""Login and logout pages."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from guetteur.bootstrap import Container
from guetteur.web.deps import container, render
from guetteur.web.session import COOKIE, client_addr, session_token

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    """Only local paths: never redirect a user to another site after login."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/live"
    return target


@router.get("/login")
def login_page(request: Request, next: str = "/live") -> Any:
    return render(request, "login.html", error=None, next=_safe_next(next))


@router.post("/login")
async def login(request: Request, c: Annotated[Container, Depends(container)],
                username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                next: Annotated[str, Form()] = "/live") -> Any:
    who = await asyncio.to_thread(c.accounts.authenticate, username, password)
    addr = client_addr(request)
    if who is None:
        await asyncio.to_thread(c.audit.append, "login_failed", username=username[:64],
                                client_addr=addr)
        return render(request, "login.html", status_code=401, next=_safe_next(next),
                      username=username[:64], error="Identifiant ou mot de passe incorrect.")
    token = await asyncio.to_thread(c.accounts.open_session, who, addr)
    await asyncio.to_thread(c.audit.append, "login", user_id=who.user_id,
                            username=who.username, client_addr=addr)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict",
                        secure=c.settings.secure_cookies, path="/")
    return response


@router.post("/logout")
async def logout(request: Request, c: Annotated[Container, Depends(container)]) -> Any:
    await asyncio.to_thread(c.accounts.close_session, session_token(request.scope))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
