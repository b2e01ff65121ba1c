"""The roles of a Guetteur node (decision 0011): what a process runs is chosen by its roles.

- `recorder` (roles/recorder.py): the cameras are recorded here (space guard, segment writer,
  recorder supervisor, camera status writer).
- `web` (roles/web.py): the public HTTP interface and API, live view hub, access gate.
- `worker` (roles/worker.py): background jobs (evidence export, plate reading), retention
  purge, audit checkpoints.
- `all`: the three together, the single-machine default (exactly today's behaviour).

Every node runs the HTTP server (a non-web node only answers /healthz and, later, its internal
API) and the node registry (services/nodes.py). Invariant: a node with roles other than `all`
needs PostgreSQL; SQLite is for one node only, refused here with a message that says why.
"""

from __future__ import annotations

from collections.abc import Iterable

from guetteur.domain.errors import InvalidInput

ROLES: tuple[str, ...] = ("recorder", "web", "worker")
ALL = frozenset(ROLES)


def parse_roles(values: str | Iterable[str]) -> frozenset[str]:
    """`"web,worker"`, `["web", "worker"]`, `["all"]` -> the set of roles; empty means all.
    An unknown role raises InvalidInput (French message naming the known ones)."""
    items = [values] if isinstance(values, str) else list(values)
    names = [n.strip().lower() for item in items for n in item.split(",") if n.strip()]
    if not names:
        return ALL
    unknown = sorted({n for n in names if n != "all" and n not in ROLES})
    if unknown:
        raise InvalidInput(f"Rôle inconnu : {', '.join(unknown)}. Rôles possibles : all, "
                           f"{', '.join(ROLES)} (séparés par des virgules pour les combiner).")
    return ALL if "all" in names else frozenset(names)


def format_roles(roles: frozenset[str]) -> str:
    """The stored and shown form: the roles in a fixed order, comma-separated."""
    return ",".join(r for r in ROLES if r in roles)


def is_sqlite(db_url: str) -> bool:
    return db_url.startswith("sqlite")


def refuse_cluster_on_sqlite(roles: frozenset[str], db_url: str) -> None:
    """A node with only some roles is part of a cluster: its database must be shared."""
    if roles != ALL and is_sqlite(db_url):
        raise InvalidInput(
            f"Le rôle « {format_roles(roles)} » suppose plusieurs nœuds qui partagent une base "
            "PostgreSQL ; SQLite ne sert qu'à un nœud unique (--role all). Renseignez "
            "GUETTEUR_DATABASE_URL=postgresql://… ou démarrez avec --role all.")
