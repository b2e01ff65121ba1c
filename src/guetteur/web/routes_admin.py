"""Account and grant administration (administrators only). Every change is audited with
before/after; passwords are never returned except the one-time password of a reset, shown once
to the administrator who asked for it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from guetteur.bootstrap import Container
from guetteur.domain.permissions import Principal
from guetteur.domain.timeutil import parse_instant
from guetteur.services.accounts import generate_password
from guetteur.services.cluster_view import node_views
from guetteur.web.deps import container
from guetteur.web.session import client_addr, csrf_protect, principal

router = APIRouter(prefix="/api", tags=["administration"], dependencies=[Depends(csrf_protect)])
Dep = Annotated[Container, Depends(container)]
Who = Annotated[Principal, Depends(principal)]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=64)
    role: str = Field(max_length=32)
    full_name: str | None = Field(None, max_length=128)
    partner: str | None = Field(None, max_length=128)
    habilitation_until: str | None = Field(None, max_length=64,
                                           description="ISO 8601 or UTC microseconds")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    full_name: str | None = Field(None, max_length=128)
    habilitation_until: str | None = Field(None, max_length=64,
                                           description="ISO 8601, UTC µs, or '' to remove")


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(max_length=16)
    scope_kind: str = Field("all", max_length=16)
    scope_value: str | None = Field(None, max_length=2048)
    valid_from: str | None = Field(None, max_length=64)
    valid_until: str | None = Field(None, max_length=64)


async def _admin(c: Container, who: Principal) -> None:
    await asyncio.to_thread(c.gate.authorize, who, "configure")


def _instant(value: str | None, field: str) -> int | None:
    return parse_instant(value, field) if value else None


@router.get("/users")
async def list_users(c: Dep, who: Who) -> list[dict[str, Any]]:
    await _admin(c, who)
    return [u.public() for u in await asyncio.to_thread(c.accounts.list)]


@router.post("/users", status_code=201)
async def add_user(body: UserIn, request: Request, c: Dep, who: Who) -> dict[str, Any]:
    """Creates the account with a generated password, returned once."""
    await _admin(c, who)
    password = generate_password()
    created = await asyncio.to_thread(
        c.accounts.add_user, body.username, password, body.role, body.full_name, body.partner,
        _instant(body.habilitation_until, "habilitation_until"))
    view = await asyncio.to_thread(c.accounts.get, created.user_id)
    await asyncio.to_thread(c.audit.append, "user_add", user_id=who.user_id,
                            username=who.username, client_addr=client_addr(request),
                            detail={"after": view.public()})
    return {**view.public(), "password": password}


@router.get("/users/{user_id}")
async def get_user(user_id: int, c: Dep, who: Who) -> dict[str, Any]:
    await _admin(c, who)
    view = await asyncio.to_thread(c.accounts.get, user_id)
    grants = await asyncio.to_thread(c.grants.list, user_id, True)
    return {**view.public(), "grants": [g.public() for g in grants]}


@router.patch("/users/{user_id}")
async def update_user(user_id: int, body: UserPatch, request: Request, c: Dep,
                      who: Who) -> dict[str, Any]:
    await _admin(c, who)
    clear = body.habilitation_until == ""
    before, after = await asyncio.to_thread(
        lambda: c.accounts.update(user_id, enabled=body.enabled, full_name=body.full_name,
                                  habilitation_until_utc_us=None if clear else _instant(
                                      body.habilitation_until, "habilitation_until"),
                                  clear_habilitation=clear))
    await asyncio.to_thread(c.audit.append, "user_update", user_id=who.user_id,
                            username=who.username, client_addr=client_addr(request),
                            detail={"before": before.public(), "after": after.public()})
    return after.public()


@router.post("/users/{user_id}/reset")
async def reset_user(user_id: int, request: Request, c: Dep, who: Who) -> dict[str, Any]:
    """New password (returned once) and a new second factor to enrol at next login."""
    await _admin(c, who)
    password = generate_password()
    await asyncio.to_thread(c.accounts.set_password, user_id, password, True)
    view = await asyncio.to_thread(c.accounts.get, user_id)
    await asyncio.to_thread(c.audit.append, "user_reset", user_id=who.user_id,
                            username=who.username, client_addr=client_addr(request),
                            detail={"user": view.username, "password": "[redacted]",
                                    "second_factor": "reset"})
    return {"username": view.username, "password": password}


@router.post("/users/{user_id}/unlock")
async def unlock_user(user_id: int, request: Request, c: Dep, who: Who) -> dict[str, Any]:
    """Clears the login throttle of an account (its pairs with every address, its account and
    second-factor counters): « Déverrouiller » on the administration page."""
    await _admin(c, who)
    view = await asyncio.to_thread(c.accounts.get, user_id)
    cleared = await asyncio.to_thread(c.login.unlock, view.username)
    await asyncio.to_thread(c.audit.append, "user_unlock", user_id=who.user_id,
                            username=who.username, client_addr=client_addr(request),
                            detail={"user": view.username, "cleared": cleared})
    return (await asyncio.to_thread(c.accounts.get, user_id)).public()


@router.get("/grants")
async def list_grants(c: Dep, who: Who, include_revoked: bool = False) -> list[dict[str, Any]]:
    await _admin(c, who)
    return [g.public() for g in await asyncio.to_thread(c.grants.list, None, include_revoked)]


@router.post("/users/{user_id}/grants", status_code=201)
async def add_grant(user_id: int, body: GrantIn, request: Request, c: Dep,
                    who: Who) -> dict[str, Any]:
    await _admin(c, who)
    grant = await asyncio.to_thread(
        lambda: c.grants.add(user_id, body.action, body.scope_kind, body.scope_value,
                             _instant(body.valid_from, "valid_from"),
                             _instant(body.valid_until, "valid_until"), who.username))
    await asyncio.to_thread(c.audit.append, "grant_add", user_id=who.user_id,
                            username=who.username, client_addr=client_addr(request),
                            detail={"after": grant.public()})
    return grant.public()


@router.delete("/grants/{grant_id}")
async def revoke_grant(grant_id: int, request: Request, c: Dep, who: Who) -> dict[str, Any]:
    await _admin(c, who)
    grant = await asyncio.to_thread(c.grants.revoke, grant_id, who.username)
    await asyncio.to_thread(c.audit.append, "grant_revoke", user_id=who.user_id,
                            username=who.username, client_addr=client_addr(request),
                            detail={"after": grant.public()})
    return grant.public()


@router.get("/admin/nodes")
async def list_nodes(c: Dep, who: Who) -> list[dict[str, Any]]:
    """The nodes of the cluster: roles, version, heartbeat age, reachability (15 s), draining,
    and what each reports (cameras held, CPU, upload spool, store errors; None if not)."""
    await _admin(c, who)
    return [n.public() for n in await asyncio.to_thread(node_views, c.nodes,
                                                        c.clock.now_us())]
