"""Plate reading and plate search on the command line (`--as USERNAME`, as for cases)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from guetteur.cli_cases import AsOpt, CaseOpt, _camera_ids, _who
from guetteur.cli_common import ConfigOpt, JsonOpt, container, follow_job, handled, out
from guetteur.domain.timeutil import iso_paris, parse_instant

plates_app = typer.Typer(help="Lecture de plaques (sur réquisition) et recherche.",
                         no_args_is_help=True)


@plates_app.command("analyse")
@handled
def plates_analyse(case: CaseOpt, as_: AsOpt,
                   camera: Annotated[list[str] | None, typer.Option(
                       "--camera", help="caméra (répétable ; défaut : celles gelées pour la "
                                        "réquisition)")] = None,
                   from_: Annotated[str | None, typer.Option("--from")] = None,
                   to: Annotated[str | None, typer.Option("--to")] = None,
                   thorough: Annotated[bool, typer.Option(
                       "--approfondie", help="voit aussi les véhicules qui traversent l'image "
                                             "entre deux images clés (environ 3 fois plus lent)")
                   ] = False,
                   config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Lit les plaques des images d'une réquisition, avec progression et temps restant."""
    c = container(config)
    who = _who(c, as_)
    if camera and from_ and to:
        ids, start, end = _camera_ids(c, camera), parse_instant(from_, "from"), \
            parse_instant(to, "to")
    else:  # the cameras and period the case's holds name
        holds = [h for h in c.cases.holds(who, case=c.cases.get(who, case).id)
                 if h.state != "released"]
        if not holds:
            raise ValueError("donnez --camera, --from et --to (la réquisition n'a pas de gel)")
        ids = sorted({h.camera_id for h in holds})
        start = min(h.start_utc_us for h in holds)
        end = max(h.end_utc_us for h in holds)
    job = c.plates.analyse(who, case, ids, start, end, thorough=thorough)
    view = follow_job(job.id, label="Analyse des plaques", claim=c.plates.claim,
                      run=c.plates.run, view_of=c.plates.job,
                      cancel=lambda job_id: c.plates.cancel(who, job_id),
                      detail=lambda v: f"{v.segments_done}/{v.segments_total} segments",
                      now_us=c.clock.now_us, quiet=as_json)
    c.plates.close()
    if as_json:
        out(view.public(c.clock.now_us()))
    else:
        typer.echo(f"Analyse {view.id} : {view.state}, {view.passages} passages, "
                   f"{view.reads} lectures" + (f" ({view.error})" if view.error else ""))
    if view.state != "done":
        raise typer.Exit(1)


@plates_app.command("search")
@handled
def plates_search(pattern: str, as_: AsOpt,
                  fuzzy: Annotated[int, typer.Option(min=0, max=2,
                                                     help="différences tolérées")] = 0,
                  case: Annotated[str | None, typer.Option("--case")] = None,
                  camera: Annotated[list[str] | None, typer.Option("--camera")] = None,
                  from_: Annotated[str | None, typer.Option("--from")] = None,
                  to: Annotated[str | None, typer.Option("--to")] = None,
                  limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
                  config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Cherche une plaque : entière, partielle (* et ?), approchée (--fuzzy 1 ou 2)."""
    c = container(config)
    who = _who(c, as_)
    hits = c.plates.search(who, pattern, fuzzy, case,
                           _camera_ids(c, camera) if camera else None,
                           parse_instant(from_, "from") if from_ else None,
                           parse_instant(to, "to") if to else None, limit)
    names = {v.id: v.name for v in c.registry.list()}
    rows: list[dict[str, Any]] = [{
        "plate": h.display, "camera": names.get(h.camera_id, h.camera_id),
        "first_paris": iso_paris(h.first_utc_us), "last_paris": iso_paris(h.last_utc_us),
        "confidence": round(h.confidence, 3), "distance": h.distance, "reads": h.reads,
        "passage_id": h.passage_id} for h in hits]
    if as_json:
        out(rows)
        return
    if not rows:
        typer.echo("Aucun passage trouvé.")
    for r in rows:
        typer.echo(f"{r['plate']:<12} {r['camera']:<20} {r['first_paris'][:19]}  "
                   f"confiance {r['confidence']:.2f}  écart {r['distance']:g}")
