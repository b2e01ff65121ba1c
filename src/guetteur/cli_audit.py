"""`guetteur audit …`: verify the trail (the chain and the signed checkpoints), print the
public audit key, export the register as CSV. Reading or exporting the trail is audited."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from guetteur.cli_common import ConfigOpt, JsonOpt, container, handled, out

audit_app = typer.Typer(help="Journal d'audit.", no_args_is_help=True)

PublicKeyOpt = Annotated[Path | None, typer.Option(
    "--public-key", help="vérifier avec la seule clé publique d'audit (PEM), sans la clé privée : "
                         "liens, complétude et points de contrôle, pas le contenu de chaque "
                         "événement")]


@audit_app.command("verify")
@handled
def audit_verify(config: ConfigOpt = None, public_key: PublicKeyOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Vérifie la chaîne du journal (nomme le premier événement modifié, supprimé, inséré ou
    déplacé) et la compare aux points de contrôle signés (événements récents supprimés,
    chaîne recalculée) ; donne l'âge du dernier point de contrôle."""
    if public_key is None:
        c = container(config)
        report = c.checkpoints.verify(c.settings.db_url)
    else:
        report = _verify_with_public_key(config, public_key)
    if as_json:
        out(report.public())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(3)


def _verify_with_public_key(config: Path | None, public_key: Path) -> Any:
    """No container: building one would create an audit key where there is none."""
    from guetteur.adapters.audit_anchor import AnchorDir, load_public_key
    from guetteur.adapters.db.engine import make_engine, session_factory
    from guetteur.domain.clock import SystemClock
    from guetteur.services.audit_checkpoints import verify_trail
    from guetteur.settings import load_settings

    settings = load_settings(config)
    engine = make_engine(settings.db_url)
    try:
        return verify_trail(settings.db_url, session_factory(engine),
                            AnchorDir(settings.audit_anchor_path), load_public_key(public_key),
                            SystemClock().now_us())
    finally:
        engine.dispose()


def _print_report(report: Any) -> None:
    from guetteur.domain.audit_anchor import summary

    if report.first_bad_id is None:
        typer.echo(f"Chaîne : {report.events} événements vérifiés en {report.seconds:.2f} s"
                   + ("" if report.problem == "ok" else " (liens seulement, sans la clé de "
                      "chaîne : le contenu de chaque événement n'est pas vérifié)"))
    else:
        typer.secho(f"ALTÉRATION : premier événement en cause n° {report.first_bad_id} "
                    f"({report.problem})", fg="red")
    if report.anchor is not None:
        if report.anchor.problem:
            typer.secho(f"ALTÉRATION : {report.anchor.problem}", fg="red")
        typer.echo(f"Ancrage : {summary(report.anchor)}")
    if report.ok:
        typer.echo("OK : journal intègre et complet jusqu'au dernier point de contrôle")


@audit_app.command("public-key")
@handled
def audit_public_key(config: ConfigOpt = None) -> None:
    """Affiche la clé publique d'audit (PEM) et son empreinte : à conserver hors du serveur,
    pour vérifier le journal avec `audit verify --public-key`."""
    from cryptography.hazmat.primitives import serialization

    c = container(config)
    public = c.checkpoints.key.public
    typer.echo(public.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
               nl=False)
    typer.echo(f"empreinte : {c.checkpoints.key.fingerprint()}", err=True)


@audit_app.command("export")
@handled
def audit_export(from_: Annotated[str | None, typer.Option("--from")] = None,
                 to: Annotated[str | None, typer.Option("--to")] = None,
                 fmt: Annotated[str, typer.Option("--format", help="csv")] = "csv",
                 output: Annotated[str | None, typer.Option("--output", "-o")] = None,
                 config: ConfigOpt = None) -> None:
    """Registre des accès au format CSV (sur la sortie standard ou dans un fichier)."""
    from guetteur.domain.timeutil import parse_instant
    from guetteur.services.audit import to_csv

    if fmt != "csv":
        raise ValueError("seul le format csv est disponible")
    c = container(config)
    start = parse_instant(from_, "from") if from_ else None
    end = parse_instant(to, "to") if to else None
    c.audit.append("audit_export", username="cli", client_addr="cli",
                   range_from_utc_us=start, range_to_utc_us=end)
    with contextlib.ExitStack() as stack:
        stream = (stack.enter_context(open(output, "w", encoding="utf-8", newline=""))
                  if output else sys.stdout)
        for chunk in to_csv(c.audit.iter_events(start, end)):
            stream.write(chunk)
