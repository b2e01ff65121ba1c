"""Judicial cases, holds, evidence exports and the register on the command line.

Commands that act on footage name the account they act for (`--as USERNAME`): the same rules as
in the web interface apply to it (roles, image rights, four eyes for a hold's release), and the
audit trail names that person. Shell access to the server is already full access to its data;
`--as` is about who answers for the act, not about authentication.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from guetteur.cli_common import ConfigOpt, JsonOpt, container, follow_job, handled, out
from guetteur.domain.timeutil import iso_paris, parse_instant

case_app = typer.Typer(help="Réquisitions judiciaires.", no_args_is_help=True)
hold_app = typer.Typer(help="Gels judiciaires (conservation au-delà de la durée légale).",
                       no_args_is_help=True)
export_app = typer.Typer(help="Extractions de preuves signées.", no_args_is_help=True)
register_app = typer.Typer(help="Registre des destructions, gels et transmissions.",
                           no_args_is_help=True)

AsOpt = Annotated[str, typer.Option("--as", help="compte au nom duquel agir (obligatoire)")]
CaseOpt = Annotated[str, typer.Option("--case", help="référence (ou numéro) de la réquisition")]
CamOpt = Annotated[list[str], typer.Option("--camera", help="nom ou numéro de caméra (répétable)")]
FromOpt = Annotated[str, typer.Option("--from", help="début (ISO 8601, heure de Paris)")]
ToOpt = Annotated[str, typer.Option("--to", help="fin (ISO 8601, heure de Paris)")]


def _who(c: Any, username: str) -> Any:
    return c.accounts.principal_of(username)


def _camera_ids(c: Any, refs: list[str]) -> list[int]:
    return [c.registry.get(ref).id for ref in refs]


# -- cases -----------------------------------------------------------------------------------
@case_app.command("add")
@handled
def case_add(reference: str, as_: AsOpt,
             service: Annotated[str, typer.Option(help="service requérant")],
             officer: Annotated[str, typer.Option(help="officier de police judiciaire")],
             date: Annotated[str, typer.Option(help="date de la réquisition (AAAA-MM-JJ)")],
             legal_basis: Annotated[str, typer.Option(help="ex. « art. 60-1 CPP »")],
             description: Annotated[str | None, typer.Option(help="objet")] = None,
             config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Enregistre une réquisition judiciaire."""
    c = container(config)
    view = c.cases.create(_who(c, as_), reference=reference, service=service, officer=officer,
                          requisition_date=date, legal_basis=legal_basis,
                          description=description)
    if as_json:
        out(view.public())
    else:
        typer.echo(f"Réquisition {view.reference} enregistrée (n° {view.id}).")


@case_app.command("list")
@handled
def case_list(as_: AsOpt, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Liste les réquisitions visibles par ce compte."""
    c = container(config)
    views = c.cases.list(_who(c, as_))
    if as_json:
        out([v.public() for v in views])
        return
    for v in views:
        state = "close" if v.closed_utc_us else "ouverte"
        typer.echo(f"{v.id:>4}  {v.reference:<24} {v.requisition_date}  {v.service:<30} "
                   f"{v.officer:<24} {state}")


@case_app.command("show")
@handled
def case_show(reference: str, as_: AsOpt, config: ConfigOpt = None,
              as_json: JsonOpt = False) -> None:
    """Détail d'une réquisition : gels et extractions."""
    c = container(config)
    who = _who(c, as_)
    view = c.cases.get(who, reference)
    holds = c.cases.holds(who, case=view.id)
    jobs = c.exports.for_case(who, view.id)
    now = c.clock.now_us()
    if as_json:
        out(view.public() | {"holds": [h.public() for h in holds],
                             "exports": [j.public(now) for j in jobs]})
        return
    for key, value in view.public().items():
        typer.echo(f"{key:>18} : {value}")
    typer.echo("Gels :")
    for h in holds:
        typer.echo(f"  {h.id:>4}  {h.camera_name:<20} {iso_paris(h.start_utc_us)} → "
                   f"{iso_paris(h.end_utc_us)}  {h.state}")
    typer.echo("Extractions :")
    for j in jobs:
        typer.echo(f"  {j.id:>4}  {j.state:<18} {j.progress:>6.1%}  {j.package_name or ''}")


# -- holds -----------------------------------------------------------------------------------
@hold_app.command("add")
@handled
def hold_add(case: CaseOpt, camera: CamOpt, from_: FromOpt, to: ToOpt, as_: AsOpt,
             config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Gèle les images de caméras sur une période, pour une réquisition."""
    c = container(config)
    holds = c.cases.place_holds(_who(c, as_), case, _camera_ids(c, camera),
                                parse_instant(from_, "from"), parse_instant(to, "to"))
    if as_json:
        out([h.public() for h in holds])
        return
    for h in holds:
        typer.echo(f"Gel {h.id} posé : {h.camera_name}, {iso_paris(h.start_utc_us)} → "
                   f"{iso_paris(h.end_utc_us)} ({h.case_reference}).")


@hold_app.command("list")
@handled
def hold_list(as_: AsOpt, case: Annotated[str | None, typer.Option("--case")] = None,
              config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Liste les gels (actifs, levée demandée, levés)."""
    c = container(config)
    who = _who(c, as_)
    case_id = c.cases.get(who, case).id if case else None
    holds = c.cases.holds(who, case=case_id)
    if as_json:
        out([h.public() for h in holds])
        return
    for h in holds:
        typer.echo(f"{h.id:>4}  {h.case_reference:<20} {h.camera_name:<20} "
                   f"{iso_paris(h.start_utc_us)} → {iso_paris(h.end_utc_us)}  {h.state}"
                   + (f" (demandée par {h.release_requested_by})"
                      if h.state == "release_requested" else ""))


@hold_app.command("release")
@handled
def hold_release(hold_id: int, as_: AsOpt,
                 reason: Annotated[str, typer.Option(help="motif de la levée")],
                 config: ConfigOpt = None) -> None:
    """Demande la levée d'un gel (une autre personne devra l'approuver)."""
    c = container(config)
    h = c.cases.ask_release(_who(c, as_), hold_id, reason)
    typer.echo(f"Levée du gel {h.id} demandée par {h.release_requested_by} : en attente "
               "d'approbation par une autre personne (guetteur hold approve).")


@hold_app.command("approve")
@handled
def hold_approve(hold_id: int, as_: AsOpt, config: ConfigOpt = None) -> None:
    """Approuve la levée d'un gel demandée par une autre personne."""
    c = container(config)
    h = c.cases.approve_release(_who(c, as_), hold_id)
    typer.echo(f"Gel {h.id} levé : demandé par {h.release_requested_by}, approuvé par "
               f"{h.released_by}. Les images suivent de nouveau la durée de conservation.")


# -- exports ---------------------------------------------------------------------------------
@export_app.command("create")
@handled
def export_create(case: CaseOpt, camera: CamOpt, from_: FromOpt, to: ToOpt, as_: AsOpt,
                  config: ConfigOpt = None,
                  quiet: Annotated[bool, typer.Option("--quiet", help="sans barre")] = False,
                  as_json: JsonOpt = False) -> None:
    """Extrait les images (remux, sans ré-encodage) dans un paquet signé, avec progression."""
    c = container(config)
    job = c.exports.create(_who(c, as_), case, _camera_ids(c, camera),
                           parse_instant(from_, "from"), parse_instant(to, "to"))
    if job.state == "awaiting_approval":
        typer.echo(f"Extraction {job.id} en attente d'approbation par une autre personne "
                   f"(guetteur export approve {job.id} --as ...).")
        return
    final = _follow(c, job.id, quiet or as_json)
    _report(c, final, as_json)


@export_app.command("approve")
@handled
def export_approve(job_id: int, as_: AsOpt, config: ConfigOpt = None,
                   quiet: Annotated[bool, typer.Option("--quiet")] = False) -> None:
    """Approuve une extraction demandée par une autre personne, puis la produit."""
    c = container(config)
    c.exports.approve(_who(c, as_), job_id)
    _report(c, _follow(c, job_id, quiet), False)


@export_app.command("cancel")
@handled
def export_cancel(job_id: int, as_: AsOpt, config: ConfigOpt = None) -> None:
    """Annule une extraction en attente ou en cours."""
    c = container(config)
    view = c.exports.cancel(_who(c, as_), job_id)
    typer.echo(f"Extraction {job_id} : {view.state}.")


def _follow(c: Any, job_id: int, quiet: bool) -> Any:
    return follow_job(job_id, label="Extraction", claim=c.exports.claim, run=c.exports.run,
                      view_of=c.exports.progress, cancel=c.exports.request_cancel,
                      detail=lambda v: f"{v.bytes_done / 1e6:.1f} / {v.bytes_total / 1e6:.1f} Mo",
                      now_us=c.clock.now_us, quiet=quiet)


def _report(c: Any, view: Any, as_json: bool) -> None:
    if as_json:
        out(view.public(c.clock.now_us()) | {
            "path": str(c.exports.dir / view.package_name) if view.package_name else None})
    elif view.state == "done":
        typer.echo(f"Paquet : {c.exports.dir / view.package_name} ({view.package_size} octets)")
        typer.echo(f"Empreinte du manifeste : {view.manifest_sha256}")
        typer.echo(f"Clé de signature : {c.exports.key.fingerprint()}")
    else:
        typer.echo(f"Extraction {view.id} : {view.state} {view.error or ''}", err=True)
    if view.state != "done":
        raise typer.Exit(1)


@export_app.command("verify")
def export_verify(package: Path,
                  expected_key: Annotated[str | None, typer.Option(
                      "--expected-key", help="empreinte de clé attendue")] = None,
                  as_json: JsonOpt = False) -> None:
    """Vérifie un paquet de preuves : signature, fichiers présents, empreintes."""
    from guetteur.adapters.evidence import verifier_preuve

    argv = [str(package)] + (["--cle-attendue", expected_key] if expected_key else []) + (
        ["--json"] if as_json else [])
    raise typer.Exit(verifier_preuve.main(argv))


# -- register --------------------------------------------------------------------------------
@register_app.command("export")
@handled
def register_export(from_: Annotated[str | None, typer.Option("--from")] = None,
                    to: Annotated[str | None, typer.Option("--to")] = None,
                    fmt: Annotated[str, typer.Option("--format", help="csv ou html")] = "csv",
                    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
                    config: ConfigOpt = None) -> None:
    """Exporte le registre (destructions, gels, extractions) en CSV ou en HTML imprimable."""
    from guetteur.services.register import to_csv, to_html

    if fmt not in ("csv", "html"):
        raise ValueError("--format : csv ou html")
    c = container(config)
    start = parse_instant(from_, "from") if from_ else None
    end = parse_instant(to, "to") if to else None
    c.audit.append("register_export", username="cli", range_from_utc_us=start,
                   range_to_utc_us=end, detail={"format": fmt})
    entries = c.register.entries(start, end)
    text = ("".join(to_csv(entries)) if fmt == "csv"
            else to_html(list(entries), start, end, "cli", iso_paris(c.clock.now_us())))
    if output:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"Registre écrit dans {output}")
    else:
        sys.stdout.write(text)
