"""Login (password, then second factor), enrolment of the second factor, logout.

Every outcome is audited: login, login_failed, login_locked (the account was just locked, or
is), login_disabled, login_rate_limited, mfa_failed, mfa_enrolled. A client address that
makes too many *failed* attempts (wrong password or code) in a minute is refused (HTTP 429)
whatever the usernames it tries; successful logins do not count.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import defaultdict, deque
from typing import Annotated, Any
from urllib.parse import quote

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from guetteur.bootstrap import Container
from guetteur.web.deps import container, render
from guetteur.web.session import COOKIE, client_addr, csrf_protect, session_token

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
RATE_WINDOW_S = 60.0
RATE_MAX = 10
_attempts: dict[str, deque[float]] = defaultdict(deque)


def _safe_next(target: str) -> str:
    """Only local paths: never redirect a user to another site after login."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _rate_limited(addr: str | None) -> bool:
    """True when this address failed RATE_MAX times in the last RATE_WINDOW_S."""
    now = time.monotonic()
    window = _attempts.get(addr or "?")
    if window is None:
        return False
    while window and now - window[0] > RATE_WINDOW_S:
        window.popleft()
    if not window:
        del _attempts[addr or "?"]
    return len(window) >= RATE_MAX


def _failed(addr: str | None) -> None:
    if len(_attempts) > 10_000:  # bounded memory whatever the number of addresses seen
        _attempts.clear()
    _attempts[addr or "?"].append(time.monotonic())


def home_of(role: str) -> str:
    """The first page of a role (image users: see `landing`)."""
    return {"landlord": "/portal", "auditor": "/audit", "admin": "/cameras"}.get(role, "/live")


async def landing(c: Container, who: Any) -> str:
    """Where a user lands after login: a page it may open."""
    page = home_of(who.role)
    if page == "/live" and not await asyncio.to_thread(c.gate.visible, who, "live"):
        return "/cameras"
    return page


def _set_cookie(response: Any, c: Container, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict",
                        secure=c.settings.secure_cookies, path="/")


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Any:
    return render(request, "login.html", error=None, next=_safe_next(next))


@router.post("/login")
async def login(request: Request, c: Annotated[Container, Depends(container)],
                username: Annotated[str, Form(max_length=128)] = "",
                password: Annotated[str, Form(max_length=1024)] = "",
                next: Annotated[str, Form(max_length=2048)] = "/") -> Any:
    addr = client_addr(request)
    name = username.strip()[:64]
    target = _safe_next(next)
    if _rate_limited(addr):
        await asyncio.to_thread(c.audit.append, "login_rate_limited", username=name,
                                client_addr=addr)
        return render(request, "login.html", status_code=429, next=target, username=name,
                      error="Trop de tentatives depuis ce poste : attendez une minute.")
    result = await asyncio.to_thread(c.accounts.authenticate, name, password)
    if result.status != "ok" or result.principal is None:
        action = {"bad": "login_failed", "locked": "login_locked",
                  "disabled": "login_disabled"}[result.status]
        _failed(addr)
        await asyncio.to_thread(c.audit.append, action, username=name, client_addr=addr,
                                detail={"locked_now": result.locked_now})
        error = {"locked": "Compte verrouillé après plusieurs échecs : réessayez dans "
                           "15 minutes ou demandez à un administrateur.",
                 "disabled": "Compte désactivé : adressez-vous à un administrateur."}.get(
            result.status, "Identifiant ou mot de passe incorrect.")
        return render(request, "login.html", status_code=401, next=target, username=name,
                      error=error)
    who = result.principal
    token = await asyncio.to_thread(c.accounts.open_session, who, addr, result.needs)
    if result.needs == "full":
        await asyncio.to_thread(c.audit.append, "login", user_id=who.user_id,
                                username=who.username, client_addr=addr,
                                detail={"second_factor": False})
        response = RedirectResponse(target if target != "/" else await landing(c, who), 303)
    else:
        response = RedirectResponse(f"/login/{result.needs}?next={quote(target)}", 303)
    _set_cookie(response, c, token)
    return response


def _qr_data_uri(uri: str) -> str:
    svg = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    data = svg.to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(data.encode()).decode()


@router.get("/login/mfa")
def mfa_page(request: Request, next: str = "/") -> Any:
    return render(request, "login_mfa.html", error=None, next=_safe_next(next))


@router.get("/login/enrol")
async def enrol_page(request: Request, c: Annotated[Container, Depends(container)],
                     next: str = "/") -> Any:
    who = request.scope["state"]["principal"]
    secret, uri = await asyncio.to_thread(c.accounts.begin_enrolment, who.user_id)
    return render(request, "login_enrol.html", error=None, next=_safe_next(next),
                  secret=secret, qr=_qr_data_uri(uri))


async def _second_factor(request: Request, c: Container, code: str, next: str,
                         enrolling: bool) -> Any:
    who = request.scope["state"]["principal"]
    addr = client_addr(request)
    target = _safe_next(next)
    if _rate_limited(addr):
        await asyncio.to_thread(c.audit.append, "login_rate_limited", user_id=who.user_id,
                                username=who.username, client_addr=addr)
        error = "Trop de tentatives depuis ce poste : attendez une minute."
        if enrolling:
            secret, uri = await asyncio.to_thread(c.accounts.begin_enrolment, who.user_id)
            return render(request, "login_enrol.html", status_code=429, next=target,
                          error=error, secret=secret, qr=_qr_data_uri(uri))
        return render(request, "login_mfa.html", status_code=429, next=target, error=error)
    ok = await asyncio.to_thread(c.accounts.check_totp, who.user_id, code, enrolling)
    if not ok:
        _failed(addr)
        await asyncio.to_thread(c.audit.append, "mfa_failed", user_id=who.user_id,
                                username=who.username, client_addr=addr)
        error = "Code incorrect ou déjà utilisé : saisissez le code à 6 chiffres affiché."
        if enrolling:
            secret, uri = await asyncio.to_thread(c.accounts.begin_enrolment, who.user_id)
            return render(request, "login_enrol.html", status_code=401, next=target,
                          error=error, secret=secret, qr=_qr_data_uri(uri))
        return render(request, "login_mfa.html", status_code=401, next=target, error=error)
    token = session_token(request.scope)
    assert token is not None
    await asyncio.to_thread(c.accounts.promote_session, token)
    if enrolling:
        await asyncio.to_thread(c.audit.append, "mfa_enrolled", user_id=who.user_id,
                                username=who.username, client_addr=addr)
    await asyncio.to_thread(c.audit.append, "login", user_id=who.user_id,
                            username=who.username, client_addr=addr,
                            detail={"second_factor": True})
    return RedirectResponse(target if target != "/" else await landing(c, who), 303)


@router.post("/login/mfa")
async def mfa(request: Request, c: Annotated[Container, Depends(container)],
              code: Annotated[str, Form(max_length=16)] = "",
              next: Annotated[str, Form(max_length=2048)] = "/") -> Any:
    return await _second_factor(request, c, code, next, enrolling=False)


@router.post("/login/enrol")
async def enrol(request: Request, c: Annotated[Container, Depends(container)],
                code: Annotated[str, Form(max_length=16)] = "",
                next: Annotated[str, Form(max_length=2048)] = "/") -> Any:
    return await _second_factor(request, c, code, next, enrolling=True)


@router.post("/logout")
async def logout(request: Request, c: Annotated[Container, Depends(container)]) -> Any:
    who = request.scope.get("state", {}).get("principal")
    await asyncio.to_thread(c.accounts.close_session, session_token(request.scope))
    if who is not None:
        await asyncio.to_thread(c.audit.append, "logout", user_id=who.user_id,
                                username=who.username, client_addr=client_addr(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
