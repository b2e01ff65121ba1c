"""The `guetteur` command line (typer). Thin: parse, call a service, print.

Errors of the domain are printed as their message (in French, saying what to do) with exit
code 1; nothing prints a secret. Administration commands live in `cli_admin.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from guetteur.cli_admin import camera_app, grant_app, partner_app, user_app
from guetteur.cli_audit import audit_app
from guetteur.cli_cases import case_app, export_app, hold_app, register_app
from guetteur.cli_common import ConfigOpt, JsonOpt, container, handled, out, setup_logging
from guetteur.cli_nodes import node_app
from guetteur.cli_plates import plates_app

app = typer.Typer(help="Guetteur : vidéoprotection urbaine (CSU).", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.add_typer(camera_app, name="camera")
app.add_typer(partner_app, name="partner")
app.add_typer(user_app, name="user")
app.add_typer(grant_app, name="grant")
app.add_typer(audit_app, name="audit")
app.add_typer(case_app, name="case")
app.add_typer(hold_app, name="hold")
app.add_typer(export_app, name="export")
app.add_typer(register_app, name="register")
app.add_typer(plates_app, name="plates")
app.add_typer(node_app, name="node")


# -- server ---------------------------------------------------------------------------------
@app.command()
@handled
def serve(config: ConfigOpt = None,
          host: Annotated[str | None, typer.Option(help="adresse d'écoute")] = None,
          port: Annotated[int | None, typer.Option(help="port HTTP")] = None,
          role: Annotated[list[str] | None, typer.Option(
              "--role", help="all (défaut), recorder, web, worker ; à combiner (virgules ou "
                             "option répétée)")] = None,
          node_name: Annotated[str | None, typer.Option(help="nom de ce nœud")] = None) -> None:
    """Démarre le serveur : enregistrement, direct, relecture, interface web."""
    from guetteur.bootstrap import check_production
    from guetteur.roles import format_roles, parse_roles, refuse_cluster_on_sqlite
    from guetteur.web.server import run_server

    setup_logging()
    roles = format_roles(parse_roles(role)) if role else None
    overrides = {k: v for k, v in {"http_host": host, "http_port": port, "roles": roles,
                                   "node_name": node_name}.items() if v}
    c = container(config, **overrides)
    refuse_cluster_on_sqlite(parse_roles(c.settings.roles), c.settings.db_url)
    if c.settings.db_url.startswith("sqlite"):
        c.nodes.refuse_second_node()
    check_production(c)
    run_server(c)


@app.command()
@handled
def demo(cameras: Annotated[int, typer.Option(min=1, max=100)] = 8,
         data_dir: Annotated[Path, typer.Option(help="état local")] = Path("var"),
         port: Annotated[int, typer.Option(help="port HTTP")] = 8080,
         rtsp_port: Annotated[int, typer.Option(help="port RTSP des caméras simulées")] = 8554,
         segment_s: Annotated[int, typer.Option(help="durée des segments (s)")] = 60) -> None:
    """Démo : caméras simulées + serveur, SQLite sous ./var ; affiche l'URL et le mot de passe."""
    from guetteur.demo import run_demo

    setup_logging()
    run_demo(cameras, data_dir, port, rtsp_port, segment_s)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def simulate(ctx: typer.Context,
             cameras: Annotated[int, typer.Option(min=1, max=500)] = 8,
             port: Annotated[int, typer.Option()] = 8554) -> None:
    """Caméras simulées : N vrais serveurs RTSP/H.264 (flux principal et secondaire).

    Autres options (--user, --password, --shared-clip, --status-file, --cache-dir,
    --clip-seconds, --name...) : voir `python -m guetteur.adapters.simulator --help`.
    """
    from guetteur.adapters.simulator.__main__ import main as simulator_main

    argv = ["--cameras", str(cameras), "--port", str(port), *ctx.args]
    raise typer.Exit(simulator_main(argv))


@app.command()
@handled
def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """État du stockage et de chaque caméra : enregistrement, reconnexion, désactivée."""
    from guetteur.domain.timeutil import iso_paris
    from guetteur.services.inventory import camera_status
    from guetteur.services.space_guard import read_storage

    c = container(config)
    rows = camera_status(c)
    if as_json:
        out(rows)
        return
    for s in read_storage(c.sessions, c.clock.now_us()):
        since = iso_paris(s["since_utc_us"])
        stale = " (plus de nouvelles du nœud)" if s["stale"] else ""
        typer.echo(f"stockage {s['node']} : {s['state']} depuis {since}{stale} — "
                   f"{s['message']}")
    for r in rows:
        typer.echo(f"{r['id']:>4}  {r['name']:<20} {r['state']:<13} "
                   f"{r['last_segment_end_utc'] or '-':<25} {r['segments']:>6} seg  "
                   f"{r['bytes'] / 1e6:>10.1f} Mo")


@app.command()
@handled
def check(config: ConfigOpt = None,
          repair: Annotated[bool, typer.Option("--repair", help="réparer ce qui peut l'être")]
          = False,
          no_hash: Annotated[bool, typer.Option("--no-hash", help="ne pas recalculer les "
                                                "empreintes (rapide)")] = False,
          as_json: JsonOpt = False) -> None:
    """Compare la base et les fichiers : manquants, orphelins, tailles, empreintes."""
    from guetteur.services.check import check as run_check

    c = container(config)
    report = run_check(c.sessions, c.store, hashes=not no_hash, repair=repair)
    if as_json:
        out(report.__dict__ | {"clean": report.clean})
    else:
        typer.echo(f"{report.checked_rows} segments vérifiés")
        for label, items in (("fichier manquant", report.missing_files),
                             ("fichier orphelin", report.orphan_files),
                             ("taille différente", report.size_mismatch),
                             ("empreinte différente", report.hash_mismatch),
                             ("en cours d'écriture", report.being_written),
                             ("réparé", report.repairs)):
            for item in items:
                typer.echo(f"  {label} : {item}")
        typer.echo("OK : base et fichiers concordent" if report.clean
                   else "ANOMALIES détectées" + ("" if repair else " (--repair pour corriger)"))
    if not report.clean and not repair:
        raise typer.Exit(2)


@app.command()
@handled
def purge(config: ConfigOpt = None) -> None:
    """Applique une fois la durée de conservation (efface les segments expirés)."""
    c = container(config)
    for r in c.purger.purge_once():
        typer.echo(f"{r.camera_name}: {r.segments} segments effacés ({r.size_bytes} octets)")


def main() -> None:
    app()
