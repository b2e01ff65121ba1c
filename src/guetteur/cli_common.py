"""Helpers shared by the command-line modules."""

from __future__ import annotations

import functools
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from guetteur.domain.errors import GuetteurError

F = TypeVar("F", bound=Callable[..., Any])
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c",
                                                help="fichier d'environnement GUETTEUR_*")]
JsonOpt = Annotated[bool, typer.Option("--json", help="sortie JSON")]


def handled(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GuetteurError as exc:
            typer.secho(f"Erreur : {exc.message}", fg="red", err=True)
            raise typer.Exit(1) from None
        except (ValueError, FileNotFoundError) as exc:
            typer.secho(f"Erreur : {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
    return wrapper  # type: ignore[return-value]


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def container(config: Path | None, **overrides: Any) -> Any:
    from guetteur.bootstrap import build
    from guetteur.settings import load_settings

    return build(load_settings(config, **overrides))


def out(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def follow_job(job_id: int, *, label: str, claim: Callable[[int], bool],
               run: Callable[[int], Any], view_of: Callable[[int], Any],
               cancel: Callable[[int], Any], detail: Callable[[Any], str],
               now_us: Callable[[], int], quiet: bool = False) -> Any:
    """Run a background job here if nobody has taken it yet (else follow the server's run)
    and show its progress: one line rewritten in place on a terminal, a line every 10 %
    otherwise (logs, scripts). Ctrl-C asks the job to stop. Returns its final view."""
    runner = None
    if claim(job_id):
        runner = threading.Thread(target=run, args=(job_id,), daemon=True)
        runner.start()
    tty = sys.stderr.isatty()
    shown = -1
    try:
        while True:
            view = view_of(job_id)
            finished = view.state in ("done", "failed", "cancelled")
            pct = int(view.progress * 100)
            if not quiet and pct != shown and (tty or pct // 10 > shown // 10 or finished):
                eta = view.eta_s(now_us())
                line = (f"{label} : {pct} % ({detail(view)})"
                        + (f", environ {eta:.0f} s restantes" if eta is not None else ""))
                typer.echo(("\r" + line.ljust(78)) if tty else line, err=True, nl=not tty)
                shown = pct
            if finished:
                break
            time.sleep(0.3)
    except KeyboardInterrupt:
        cancel(job_id)
        typer.echo("\nAnnulation demandée…", err=True)
    if runner is not None:
        runner.join()
    if tty and not quiet:
        typer.echo("", err=True)
    return view_of(job_id)
