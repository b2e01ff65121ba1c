"""Helpers shared by the command-line modules."""

from __future__ import annotations

import functools
import json
import logging
import sys
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
