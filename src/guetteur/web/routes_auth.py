"""Login (password, then second factor), enrolment of the second factor, logout.

Thin handlers over `services/login.py` (throttling shared by every web process, every outcome
audited). An unknown name, a wrong password and a throttled name x address pair get the same
401 and the same French message (`BAD_LOGIN`); a throttled client address gets 429. The run of
wrong second-factor codes that starts a block ends the pending session (429, back to the login
form).
"""

from __future__ import annotations

import asyncio
import base64
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
BAD_LOGIN = ("Identifiant ou mot de passe incorrect. Après plusieurs échecs depuis ce poste, "
             "les essais sont ralentis : patientez quelques minutes avant de réessayer.")
ADDRESS_LIMITED = ("Trop de tentatives depuis ce poste : attendez quelques minutes, ou "
                   "connectez-vous depuis un autre poste du centre.")
CODES_BLOCKED = ("Trop de codes erronés : la connexion est interrompue. Réessayez dans quelques "
                 "minutes ou demandez à un administrateur de déverrouiller le compte.")
BAD_CODE = "Code incorrect ou déjà utilisé : saisissez le code à 6 chiffres affiché."


def _safe_next(target: str) -> str:
    """Only local paths: never redirect a user to another site after login."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


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
                        secure=c.settings.cookie_secure, path="/")


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
    result = await asyncio.to_thread(c.login.password, name, password, addr)
    if result.status != "ok" or result.principal is None:
        status, error = {
            "limited": (429, ADDRESS_LIMITED),
            "disabled": (401, "Compte désactivé : adressez-vous à un administrateur."),
        }.get(result.status, (401, BAD_LOGIN))
        return render(request, "login.html", status_code=status, next=target, username=name,
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
    outcome = await asyncio.to_thread(c.login.code, who, code, addr, enrolling)
    if outcome.status == "ended":
        await asyncio.to_thread(c.accounts.close_session, session_token(request.scope))
        response = render(request, "login.html", status_code=429, next=target,
                          username=who.username, error=CODES_BLOCKED)
        response.delete_cookie(COOKIE, path="/", secure=c.settings.cookie_secure,
                               httponly=True, samesite="strict")
        return response
    if outcome.status != "ok":
        status, error = (429, ADDRESS_LIMITED) if outcome.status == "limited" else \
            (401, BAD_CODE)
        if enrolling:
            secret, uri = await asyncio.to_thread(c.accounts.begin_enrolment, who.user_id)
            return render(request, "login_enrol.html", status_code=status, next=target,
                          error=error, secret=secret, qr=_qr_data_uri(uri))
        return render(request, "login_mfa.html", status_code=status, next=target, error=error)
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
    response.delete_cookie(COOKIE, path="/", secure=c.settings.cookie_secure, httponly=True,
                           samesite="strict")
    return response
