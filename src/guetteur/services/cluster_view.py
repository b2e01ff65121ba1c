"""What administrators see of the cluster: the `cluster_node` rows (written by each node's
heartbeat) as plain views, with the heartbeat's age and whether the node is reachable.

A node whose heartbeat is older than `UNREACHABLE_S` is `unreachable` (« injoignable »): past
the lease TTL its cameras are being taken over. A figure a node did not report is None (the
page shows « — »). Stats keys are read from the node's `stats` JSON under the names in
`STAT_KEYS` (first one present wins).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import ClusterNode

UNREACHABLE_S = 15.0
STAT_KEYS: dict[str, tuple[str, ...]] = {
    "cameras_held": ("cameras_held", "cameras", "leases"),
    "cpu_pct": ("cpu_pct", "cpu"),
    "spool_bytes": ("spool_bytes", "upload_spool_bytes", "spool"),
    "store_errors": ("store_errors",),
}


@dataclass(frozen=True)
class NodeView:
    name: str
    roles: list[str]
    version: str
    started_utc_us: int
    heartbeat_utc_us: int
    heartbeat_age_s: float
    reachable: bool
    draining: bool
    cameras_held: float | None
    cpu_pct: float | None
    spool_bytes: float | None
    store_errors: float | None

    def public(self) -> dict[str, Any]:
        return asdict(self)


def _number(stats: dict[str, Any], names: tuple[str, ...]) -> float | None:
    for name in names:
        value = stats.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            return value
    return None


def node_views(sessions: sessionmaker[Session], now_us: int) -> list[NodeView]:
    """Every node, by name. (`internal_url` is left out: it is of no use to a person.)"""
    with sessions() as db:
        rows = db.scalars(select(ClusterNode).order_by(ClusterNode.name)).all()
    views = []
    for r in rows:
        try:
            stats = json.loads(r.stats or "{}")
        except ValueError:
            stats = {}
        if not isinstance(stats, dict):
            stats = {}
        age_s = max(0.0, (now_us - r.heartbeat_utc_us) / 1e6)
        views.append(NodeView(
            r.name, [x for x in (r.roles or "").split(",") if x], r.version, r.started_utc_us,
            r.heartbeat_utc_us, round(age_s, 1), age_s <= UNREACHABLE_S, bool(r.draining),
            **{key: _number(stats, names) for key, names in STAT_KEYS.items()}))
    return views
