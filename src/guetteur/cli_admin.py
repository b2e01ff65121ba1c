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
grant_app = typer.Typer(help="Droits d'accès aux images.", no_args_is_help=True)

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


def _audit(c: Any, action: str, **detail: Any) -> None:
    c.audit.append(action, username="cli", client_addr="cli", detail=detail)


def _read_password() -> str | None:
    if sys.stdin.isatty():
        return None
    return sys.stdin.readline().rstrip("\n") or None


@user_app.command("add")
@handled
def user_add(username: str,
             role: Annotated[str, typer.Option(help="admin, supervisor, operator, "
                                                    "investigator, landlord, auditor")],
             full_name: Annotated[str | None, typer.Option("--full-name")] = None,
             partner: Annotated[str | None, typer.Option(help="bailleur (comptes landlord)")]
             = None,
             habilitation_until: Annotated[str | None, typer.Option(
                 help="fin d'habilitation (ISO 8601, heure de Paris)")] = None,
             config: ConfigOpt = None) -> None:
    """Crée un compte ; mot de passe lu sur l'entrée standard (ou généré et affiché une fois)."""
    from guetteur.domain.timeutil import parse_instant
    from guetteur.services.accounts import generate_password

    password = _read_password()
    generated = password is None
    password = password or generate_password()
    c = container(config)
    until = parse_instant(habilitation_until, "habilitation_until") if habilitation_until \
        else None
    who = c.accounts.add_user(username, password, role, full_name, partner, until)
    _audit(c, "user_add", after=c.accounts.get(who.user_id).public())
    typer.echo(f"compte {who.username} créé (rôle {role})")
    if generated:
        typer.echo(f"mot de passe généré (affiché une seule fois) : {password}")


@user_app.command("list")
@handled
def user_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Liste les comptes."""
    users = container(config).accounts.list()
    if as_json:
        out([u.public() for u in users])
        return
    for u in users:
        flags = ("" if u.enabled else " désactivé") + (" 2FA" if u.totp_enrolled else "")
        typer.echo(f"{u.id:>4}  {u.username:<20} {u.role:<13} {u.partner or '-':<16}{flags}")


@user_app.command("show")
@handled
def user_show(username: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Affiche un compte et ses droits."""
    c = container(config)
    data = c.accounts.get(username).public()
    data["grants"] = [g.public() for g in c.grants.list(username, include_revoked=True)]
    if as_json:
        out(data)
        return
    for key, value in data.items():
        if key != "grants":
            typer.echo(f"{key:>26} : {value}")
    for g in data["grants"]:
        typer.echo(f"  droit {g['id']}: {g['action']} {g['scope_kind']} {g['scope_value'] or ''}"
                   f"{' (révoqué)' if g['revoked_utc_us'] else ''}")


@user_app.command("disable")
@handled
def user_disable(username: str, config: ConfigOpt = None) -> None:
    """Désactive un compte (ses sessions prennent fin immédiatement)."""
    c = container(config)
    before, after = c.accounts.update(username, enabled=False)
    _audit(c, "user_update", before=before.public(), after=after.public())
    typer.echo(f"compte {username} désactivé")


@user_app.command("enable")
@handled
def user_enable(username: str, config: ConfigOpt = None) -> None:
    """Réactive un compte."""
    c = container(config)
    before, after = c.accounts.update(username, enabled=True)
    _audit(c, "user_update", before=before.public(), after=after.public())
    typer.echo(f"compte {username} réactivé")


@user_app.command("reset")
@handled
def user_reset(username: str, config: ConfigOpt = None) -> None:
    """Nouveau mot de passe (entrée standard, ou généré) et second facteur à ré-enrôler."""
    from guetteur.services.accounts import generate_password

    password = _read_password()
    generated = password is None
    password = password or generate_password()
    c = container(config)
    c.accounts.set_password(username, password, reset_totp=True)
    _audit(c, "user_reset", user=username, password="[redacted]", second_factor="reset")
    typer.echo(f"compte {username} réinitialisé (second facteur à ré-enrôler)")
    if generated:
        typer.echo(f"mot de passe généré (affiché une seule fois) : {password}")


@user_app.command("unlock")
@handled
def user_unlock(username: str, config: ConfigOpt = None) -> None:
    """Lève le ralentissement des connexions d'un compte (toutes adresses, second facteur)."""
    c = container(config)
    cleared = c.login.unlock(username)
    _audit(c, "user_unlock", user=username, cleared=cleared)
    typer.echo(f"compte {username} déverrouillé ({len(cleared)} compteur(s) effacé(s))")


@user_app.command("totp-code")
@handled
def user_totp_code(username: str, config: ConfigOpt = None) -> None:
    """Code TOTP courant d'un compte (démonstration et tests ; refusé en production)."""
    c = container(config)
    if c.settings.mode == "production":
        raise ValueError("refusé en mode production : utilisez une application "
                         "d'authentification")
    user = c.accounts.get(username)
    c.audit.append("totp_code_shown", username="cli", client_addr="cli",
                   detail={"user": user.username})
    typer.echo(c.accounts.current_code(user.id))


@grant_app.command("add")
@handled
def grant_add(username: str,
              action: Annotated[str, typer.Option(help="live, playback, export, ptz, audit")],
              scope: Annotated[str, typer.Option(help="all, site, owner ou cameras")] = "all",
              value: Annotated[str | None, typer.Option(
                  help="site, propriétaire, ou caméras séparées par des virgules")] = None,
              valid_from: Annotated[str | None, typer.Option("--from")] = None,
              valid_until: Annotated[str | None, typer.Option("--until")] = None,
              config: ConfigOpt = None) -> None:
    """Donne un droit à un compte (action x portée x validité)."""
    from guetteur.domain.timeutil import parse_instant

    c = container(config)
    grant = c.grants.add(username, action, scope, value,
                         parse_instant(valid_from, "from") if valid_from else None,
                         parse_instant(valid_until, "until") if valid_until else None, "cli")
    _audit(c, "grant_add", after=grant.public())
    typer.echo(f"droit {grant.id} : {username} {action} {scope} {grant.scope_value or ''}")


@grant_app.command("list")
@handled
def grant_list(username: Annotated[str | None, typer.Argument()] = None,
               include_revoked: Annotated[bool, typer.Option("--all")] = False,
               config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Liste les droits (d'un compte, ou de tous)."""
    grants = container(config).grants.list(username, include_revoked)
    if as_json:
        out([g.public() for g in grants])
        return
    for g in grants:
        typer.echo(f"{g.id:>4}  {g.username:<20} {g.action:<9} {g.scope_kind:<8} "
                   f"{g.scope_value or '-':<20}{' révoqué' if g.revoked_utc_us else ''}")


@grant_app.command("revoke")
@handled
def grant_revoke(grant_id: int, config: ConfigOpt = None) -> None:
    """Révoque un droit (il reste au registre)."""
    c = container(config)
    grant = c.grants.revoke(grant_id, "cli")
    _audit(c, "grant_revoke", after=grant.public())
    typer.echo(f"droit {grant_id} révoqué")
