"""The node registry (decision 0011): each Guetteur process keeps its row of `cluster_node`.

At start the node upserts its row (roles, version, internal URL, start time), then refreshes
its heartbeat and statistics every `interval_s` from a background task. Statistics are JSON:
the process CPU percent, plus whatever other services add with `add_stats_provider(name, fn)`
(cameras recorded, upload spool, store errors...); a provider that fails is logged and left
out of that beat, never stops the heartbeat. At stop the row stays (history, `node list`)
with a last heartbeat and `"stopped": true` in its statistics.

`draining` is set by an operator (`guetteur node drain NAME`) and read by the lease logic; the
registry only sets, clears and shows it. On SQLite there is one node: `refuse_second_node`
refuses a start while another node's heartbeat is fresh.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import ClusterNode
from guetteur.domain.clock import Clock
from guetteur.domain.errors import Conflict, NotFound

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0
STALE_AFTER_BEATS = 3  # a heartbeat older than 3 beats: the node is considered gone


@dataclass(frozen=True)
class NodeView:
    name: str
    roles: str
    version: str
    internal_url: str | None
    started_utc_us: int
    heartbeat_utc_us: int
    draining: bool
    stats: dict[str, Any]

    def age_s(self, now_us: int) -> float:
        return max(0.0, (now_us - self.heartbeat_utc_us) / 1e6)

    @property
    def stopped(self) -> bool:
        return bool(self.stats.get("stopped"))


class NodeRegistry:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, name: str, roles: str,
                 version: str, internal_url: str | None,
                 interval_s: float = HEARTBEAT_S) -> None:
        self._sessions = sessions
        self._clock = clock
        self.name = name
        self.roles = roles
        self.version = version
        self.internal_url = internal_url
        self.interval_s = interval_s
        self._providers: dict[str, Callable[[], Any]] = {}
        self._process = psutil.Process()
        self._started_us: int | None = None

    def add_stats_provider(self, name: str, provider: Callable[[], Any]) -> None:
        """`provider()` returns a JSON-able figure, read at every heartbeat."""
        self._providers[name] = provider

    def stats(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"cpu_pct": self._process.cpu_percent(None)}
        for name, provider in list(self._providers.items()):
            try:
                figures[name] = provider()
            except Exception:
                log.exception("node stats: provider %s failed", name)
        return figures

    def beat(self, final: bool = False) -> None:
        """Upsert this node's row with a fresh heartbeat (the first call sets its start)."""
        now = self._clock.now_us()
        if self._started_us is None:
            self._started_us = now
        stats = self.stats() | ({"stopped": True} if final else {})
        with self._sessions.begin() as db:
            row = db.get(ClusterNode, self.name)
            if row is None:
                row = ClusterNode(name=self.name, draining=False)
                db.add(row)
            row.roles, row.version, row.internal_url = self.roles, self.version, self.internal_url
            row.started_utc_us, row.heartbeat_utc_us = self._started_us, now
            row.stats = json.dumps(stats, default=str)

    async def run(self) -> None:
        """Heartbeat until cancelled; a failed beat (database away) is retried next time."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await asyncio.to_thread(self.beat)
            except Exception:
                log.exception("node heartbeat failed")

    def refuse_second_node(self) -> None:
        """SQLite: one node only. Another node with a fresh heartbeat -> Conflict."""
        now = self._clock.now_us()
        for node in self.list():
            if node.name != self.name and not node.stopped and \
                    node.age_s(now) < self.interval_s * STALE_AFTER_BEATS:
                raise Conflict(
                    f"Le nœud « {node.name} » fonctionne déjà sur cette base SQLite (dernier "
                    f"signe de vie il y a {node.age_s(now):.0f} s) : SQLite ne sert qu'à un "
                    "nœud unique. Arrêtez l'autre nœud, ou passez à PostgreSQL "
                    "(GUETTEUR_DATABASE_URL) pour plusieurs nœuds.")

    def list(self) -> list[NodeView]:
        with self._sessions() as db:
            rows = db.scalars(select(ClusterNode).order_by(ClusterNode.name)).all()
            return [_view(r) for r in rows]

    def set_draining(self, name: str, draining: bool) -> NodeView:
        with self._sessions.begin() as db:
            row = db.get(ClusterNode, name)
            if row is None:
                known = ", ".join(db.scalars(select(ClusterNode.name)).all()) or "aucun"
                raise NotFound(f"Nœud inconnu : « {name} » (nœuds connus : {known}).")
            row.draining = draining
            return _view(row)


def _view(row: ClusterNode) -> NodeView:
    try:
        stats = json.loads(row.stats or "{}")
    except ValueError:
        stats = {}
    return NodeView(row.name, row.roles, row.version, row.internal_url, row.started_utc_us,
                    row.heartbeat_utc_us, bool(row.draining),
                    stats if isinstance(stats, dict) else {})
