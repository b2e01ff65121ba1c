"""Administration commands: cameras, partners, users. Same validation and audit as the API
(they call the same services). Passwords are read from standard input, never from an argument
(arguments end up in shell history and in `ps`)."""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated, Any

import typer

from guetteur.cli_common import ConfigOpt, JsonOpt, container, handled, out
from guetteur.domain.cameras import CameraSpec, Credentials

camera_app = typer.Typer(help="Caméras : ajouter, lister, modifier, supprimer.",
                         no_args_is_help=True)
partner_app = typer.Typer(help="Bailleurs partenaires.", no_args_is_help=True)
user_app = typer.Typer(help="Comptes utilisateurs.", no_args_is_help=True)

UrlOpt = Annotated[str | None, typer.Option("--url", help="URL RTSP du flux principal")]
SubOpt = Annotated[str | None, typer.Option("--sub-url", help="URL RTSP du flux secondaire")]
RtspUser = Annotated[str | None, typer.Option("--rtsp-user", help="identifiant RTSP")]
PwStdin = Annotated[bool, typer.Option("--rtsp-password-stdin",
                                       help="lire le mot de passe RTSP sur l'entrée standard")]
OwnerOpt = Annotated[str | None, typer.Option("--owner", help="« city » ou nom du bailleur")]
SiteOpt = Annotated[str | None, typer.Option("--site", help="site (ex. une résidence)")]
LatOpt = Annotated[float | None, typer.Option("--lat", help="latitude")]
LonOpt = Annotated[float | None, typer.Option("--lon", help="longitude")]
PurposeOpt = Annotated[list[str] | None, typer.Option("--purpose", help="finalité (répétable)")]
AuthRefOpt = Annotated[str | None, typer.Option("--authorisation-ref",
                                                help="référence de l'arrêté préfectoral")]
AuthExpOpt = Annotated[str | None, typer.Option("--authorisation-expiry",
                                                help="fin de l'autorisation (AAAA-MM-JJ)")]
RetOpt = Annotated[int | None, typer.Option("--retention-days", help="1 à 30 jours")]


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"date « {text} » invalide : AAAA-MM-JJ") from None


def _creds(user: str | None, from_stdin: bool) -> Credentials | None:
    if user is None:
        return None
    password = sys.stdin.readline().rstrip("\n") if from_stdin else ""
    return Credentials(user, password)


def _show(view: Any, as_json: bool) -> None:
    data = view.public()
    if as_json:
        out(data)
        return
    for key, value in data.items():
        typer.echo(f"{key:>22} : {value}")


@camera_app.command("add")
@handled
def camera_add(name: str, url: UrlOpt = None, sub_url: SubOpt = None, rtsp_user: RtspUser = None,
               rtsp_password_stdin: PwStdin = False, owner: OwnerOpt = None,
               site: SiteOpt = None, lat: LatOpt = None, lon: LonOpt = None,
               purpose: PurposeOpt = None, authorisation_ref: AuthRefOpt = None,
               authorisation_expiry: AuthExpOpt = None, retention_days: RetOpt = None,
               disabled: Annotated[bool, typer.Option("--disabled")] = False,
               config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Enregistre une caméra."""
    if not url:
        raise ValueError("--url est obligatoire (URL RTSP du flux principal)")
    spec = CameraSpec(name=name, main_url=url, sub_url=sub_url,
                      credentials=_creds(rtsp_user, rtsp_password_stdin),
                      owner=owner or "city", site=site, latitude=lat, longitude=lon,
                      purposes=tuple(purpose or ()), authorisation_ref=authorisation_ref,
                      authorisation_expiry=_date(authorisation_expiry),
                      retention_days=30 if retention_days is None else retention_days,
                      enabled=not disabled)
    _show(container(config).registry.add(spec, actor="cli"), as_json)


@camera_app.command("list")
@handled
def camera_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Liste les caméras."""
    views = container(config).registry.list()
    if as_json:
        out([v.public() for v in views])
        return
    for v in views:
        typer.echo(f"{v.id:>4}  {v.name:<20} {'activée' if v.enabled else 'désactivée':<11} "
                   f"{v.owner:<16} {v.site or '-':<20} {v.retention_days:>2} j  {v.main_url}")


@camera_app.command("show")
@handled
def camera_show(name: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Affiche une caméra (jamais ses identifiants)."""
    _show(container(config).registry.get(name), as_json)


@camera_app.command("update")
@handled
def camera_update(name: str, new_name: Annotated[str | None, typer.Option("--name")] = None,
                  url: UrlOpt = None, sub_url: SubOpt = None, rtsp_user: RtspUser = None,
                  rtsp_password_stdin: PwStdin = False, owner: OwnerOpt = None,
                  site: SiteOpt = None, lat: LatOpt = None, lon: LonOpt = None,
                  purpose: PurposeOpt = None, authorisation_ref: AuthRefOpt = None,
                  authorisation_expiry: AuthExpOpt = None, retention_days: RetOpt = None,
                  enable: Annotated[bool | None, typer.Option("--enable/--disable")] = None,
                  config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Modifie une caméra ; l'enregistreur applique le changement sans redémarrage."""
    changes: dict[str, Any] = {
        "name": new_name, "main_url": url, "sub_url": sub_url, "owner": owner, "site": site,
        "latitude": lat, "longitude": lon, "authorisation_ref": authorisation_ref,
        "authorisation_expiry": _date(authorisation_expiry), "retention_days": retention_days,
        "enabled": enable}
    changes = {k: v for k, v in changes.items() if v is not None}
    if purpose:
        changes["purposes"] = tuple(purpose)
    if rtsp_user is not None:
        changes["credentials"] = _creds(rtsp_user, rtsp_password_stdin)
    if not changes:
        raise ValueError("rien à modifier : donnez au moins une option")
    _show(container(config).registry.update(name, actor="cli", **changes), as_json)


@camera_app.command("remove")
@handled
def camera_remove(name: str, config: ConfigOpt = None) -> None:
    """Supprime une caméra qui n'a plus d'images enregistrées."""
    view = container(config).registry.remove(name, actor="cli")
    typer.echo(f"caméra {view.name} supprimée")


@partner_app.command("add")
@handled
def partner_add(name: str, config: ConfigOpt = None) -> None:
    """Enregistre un bailleur partenaire."""
    pid = container(config).registry.add_partner(name, actor="cli")
    typer.echo(f"bailleur {name} enregistré (id {pid})")


@partner_app.command("list")
@handled
def partner_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Liste les bailleurs partenaires."""
    rows = container(config).registry.list_partners()
    if as_json:
        out(rows)
    else:
        for r in rows:
            typer.echo(f"{r['id']:>4}  {r['name']}")


@user_app.command("add")
@handled
def user_add(username: str,
             role: Annotated[str, typer.Option(help="admin ou landlord")] = "admin",
             full_name: Annotated[str | None, typer.Option("--full-name")] = None,
             config: ConfigOpt = None) -> None:
    """Crée un compte ; mot de passe lu sur l'entrée standard (ou généré et affiché)."""
    from guetteur.services.accounts import generate_password

    password = "" if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    generated = not password
    password = password or generate_password()
    c = container(config)
    who = c.accounts.add_user(username, password, role, full_name)
    c.audit.append("user_add", username="cli", detail={"user": who.username, "role": role})
    typer.echo(f"compte {who.username} créé (rôle {role})")
    if generated:
        typer.echo(f"mot de passe généré : {password}")
