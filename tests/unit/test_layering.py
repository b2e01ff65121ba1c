"""The domain is pure: it imports nothing from adapters, services or web, nor the database
or web frameworks (cosmicpython's rule). Checked on the source, so a lazy import inside a
function is caught too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import guetteur.domain

DOMAIN_DIR = Path(guetteur.domain.__file__).parent
FORBIDDEN = ("guetteur.adapters", "guetteur.services", "guetteur.web", "guetteur.bootstrap",
             "guetteur.cli", "guetteur.settings", "sqlalchemy", "fastapi", "starlette",
             "alembic", "psycopg", "av", "uvicorn", "httpx", "jinja2")
MODULES = sorted(DOMAIN_DIR.glob("*.py"))


def imported_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against guetteur.domain
                base = "guetteur.domain" if node.level == 1 else "guetteur"
                module = f"{base}.{module}" if module else base
            names.append(module)
            # `from guetteur import adapters` imports the package guetteur.adapters
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def is_forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_the_domain_has_modules_to_check() -> None:
    assert {p.name for p in MODULES} >= {"cameras.py", "retention.py", "segments.py",
                                         "audit.py", "timeutil.py", "errors.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_domain_module_imports_nothing_outside_the_domain(path: Path) -> None:
    bad = [n for n in imported_names(path) if is_forbidden(n)]
    assert bad == [], f"{path.name} imports {bad}"


def test_the_checker_sees_forbidden_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import sqlalchemy.orm\nfrom ..services import registry\n"
                      "from .. import adapters\nfrom guetteur.domain import errors\n"
                      "def f():\n    from guetteur.web.app import create_app\n"
                      "from fastapi import FastAPI\nimport avocado\n")
    bad = {n for n in imported_names(sample) if is_forbidden(n)}
    assert bad == {"sqlalchemy.orm", "guetteur.services", "guetteur.services.registry",
                   "guetteur.adapters", "guetteur.web.app", "guetteur.web.app.create_app",
                   "fastapi", "fastapi.FastAPI"}
