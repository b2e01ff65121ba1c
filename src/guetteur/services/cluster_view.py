"""What administrators see of the cluster: the `cluster_node` rows (written by each node's
heartbeat) as plain views, with the heartbeat's age and whether the node is reachable.

A node whose heartbeat is older than `UNREACHABLE_S` is `unreachable` (« injoignable »): past
the lease TTL its cameras are being taken over. A figure a node did not report is None (the
page shows « — »). Stats keys are read from the node's `stats` JSON under the names in
`STAT_KEYS` (first one present wins).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from guetteur.services.nodes import NodeRegistry

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


def node_views(registry: NodeRegistry, now_us: int) -> list[NodeView]:
    """Every node, by name, as the registry reads it. (`internal_url` is left out: it is of no
    use to a person.)"""
    views = []
    for n in registry.list():
        age_s = n.age_s(now_us)
        views.append(NodeView(
            n.name, [x for x in (n.roles or "").split(",") if x], n.version, n.started_utc_us,
            n.heartbeat_utc_us, round(age_s, 1), age_s <= UNREACHABLE_S, n.draining,
            **{key: _number(n.stats, names) for key, names in STAT_KEYS.items()}))
    return views
