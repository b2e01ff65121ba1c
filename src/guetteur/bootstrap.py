"""The only place that wires Guetteur together: settings -> engine -> services.

`build(settings)` returns a `Container` with every service, and nothing running. `start()`
launches the long-lived tasks of the node's roles (`roles/`: recorder, web, worker; `all` by
default) and the node heartbeat on the current event loop; `stop()` stops recorders cleanly (open
segments finished and indexed), drains the writer and joins every task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from guetteur import __version__
from guetteur.adapters.audit_anchor import AnchorDir, AuditKey
from guetteur.adapters.db.engine import make_engine, migrate, session_factory
from guetteur.adapters.evidence.signing import EvidenceKey
from guetteur.adapters.metrics import NodeMetrics
from guetteur.adapters.secrets import SecretBox
from guetteur.adapters.storage.local import LocalStore
from guetteur.domain.clock import Clock, SystemClock
from guetteur.domain.errors import GuetteurError
from guetteur.domain.storage import SpacePolicy
from guetteur.roles import (
    format_roles,
    is_sqlite,
    parse_roles,
    recorder,
    refuse_cluster_on_sqlite,
    web,
    worker,
)
from guetteur.services.access import AccessGate
from guetteur.services.accounts import Accounts
from guetteur.services.audit import AuditLog
from guetteur.services.audit_checkpoints import Checkpointer
from guetteur.services.cases import Cases
from guetteur.services.evidence import EvidenceExports
from guetteur.services.grants import Grants
from guetteur.services.leases import LeaseKeeper
from guetteur.services.live import LiveHub
from guetteur.services.login import LoginGuard
from guetteur.services.login_throttle import LoginThrottle
from guetteur.services.nodes import NodeRegistry
from guetteur.services.open_segments import OpenSegment, OpenSegments
from guetteur.services.plate_search import PlateSearch
from guetteur.services.plates import PlateReading
from guetteur.services.recorder import RecorderSupervisor
from guetteur.services.register import Register
from guetteur.services.registry import CameraRegistry
from guetteur.services.retention import RetentionPurger
from guetteur.services.segment_index import SegmentIndex
from guetteur.services.segment_writer import SegmentWriter
from guetteur.services.space_guard import SpaceGuard
from guetteur.services.status import StatusBoard
from guetteur.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    store: LocalStore
    audit: AuditLog
    registry: CameraRegistry
    index: SegmentIndex
    accounts: Accounts
    grants: Grants
    gate: AccessGate
    purger: RetentionPurger
    cases: Cases
    exports: EvidenceExports
    register: Register
    plates: PlateReading
    space: SpaceGuard
    login: LoginGuard
    checkpoints: Checkpointer
    nodes: NodeRegistry
    writer: SegmentWriter | None = None
    writer_task: asyncio.Task[None] | None = None
    status: StatusBoard | None = None
    supervisor: RecorderSupervisor | None = None
    live: LiveHub | None = None
    # Cluster hook (decision 0012): set only when GUETTEUR_CLUSTER=true on PostgreSQL.
    leases: LeaseKeeper | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # playback of what is recorded but not indexed yet (the segment being written)
    open_segments: OpenSegments = field(init=False)
    # Prometheus metrics of this node, read from the services at scrape time (GET /metrics)
    metrics: NodeMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.open_segments = OpenSegments(self.index, self.store, self.unindexed)
        self.metrics = NodeMetrics(self)

    def unindexed(self, camera_id: int, stream: str) -> list[OpenSegment]:
        if self.supervisor is None:
            return []
        rec = self.supervisor.recorder(camera_id, stream)
        return rec.unindexed() if rec else []

    def current_path(self, camera_id: int, stream: str) -> Path | None:
        if self.supervisor is None:
            return None
        rec = self.supervisor.recorder(camera_id, stream)
        return rec.current_path() if rec else None

    def open_keys(self) -> set[str]:
        if self.supervisor is None:
            return set()
        return {r.state.current_key for r in self.supervisor.recorders() if r.state.current_key}

    async def start(self, record: bool = True, purge: bool = True,
                    exports: bool = True) -> None:
        """Start on the running loop the background work of this node's roles (roles/):
        `all` starts everything, as a single machine always did."""
        s = self.settings
        roles = parse_roles(s.roles)
        refuse_cluster_on_sqlite(roles, s.db_url)
        if is_sqlite(s.db_url):
            await asyncio.to_thread(self.nodes.refuse_second_node)
        if exports and "worker" in roles:
            worker.start_jobs(self)
        if "recorder" in roles:
            recorder.start_writers(self)
        if "web" in roles:
            web.start(self)
        if record and "recorder" in roles:
            await recorder.start_recording(self)
        if purge and "worker" in roles:
            worker.start_purge(self)
        if "worker" in roles:
            worker.start_checkpoints(self)
        await asyncio.to_thread(self.nodes.beat)
        self._tasks.append(asyncio.create_task(self.nodes.run(), name="node-heartbeat"))
        _warn_if_inside_data_dir(s)

    async def stop(self) -> None:
        stage = _StageTimer("shutdown")
        await asyncio.to_thread(self.exports.stop_worker)
        stage.done("export worker")
        await asyncio.to_thread(self.plates.stop_worker)
        stage.done("plate worker")
        if self.supervisor is not None:
            await self.supervisor.stop()
            stage.done("recorders")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        stage.done("background tasks")
        if self.writer is not None and self.writer_task is not None:
            self.writer.close()  # index what the stopped recorders handed over, then end
            await self.writer_task
            self.writer_task = None
            stage.done("segment writer")
        if self.status is not None:
            await asyncio.to_thread(self.status.flush, True)
            stage.done("status")
        if "worker" in parse_roles(self.settings.roles):
            try:  # the events of this run, anchored before the process ends
                await asyncio.to_thread(self.checkpoints.tick, final=True)
            except GuetteurError as exc:
                log.error("audit checkpoint not written at shutdown: %s", exc.message)
            stage.done("audit checkpoint")
        try:  # the row stays: last heartbeat, marked stopped
            await asyncio.to_thread(self.nodes.beat, True)
        except Exception:
            log.exception("node registry: final heartbeat not written")

    def close(self) -> None:
        self.plates.close()
        self.engine.dispose()


class _StageTimer:
    """Logs how long each step of a sequence took; a slow step is a warning."""

    SLOW_S = 3.0

    def __init__(self, what: str) -> None:
        self._what = what
        self._last = time.monotonic()

    def done(self, step: str) -> None:
        now = time.monotonic()
        took, self._last = now - self._last, now
        level = logging.WARNING if took >= self.SLOW_S else logging.DEBUG
        log.log(level, "%s: %s took %.1f s", self._what, step, took)


def build(settings: Settings, clock: Clock | None = None, migrate_db: bool = True) -> Container:
    clock = clock or SystemClock()
    engine = make_engine(settings.db_url)
    if migrate_db:
        migrate(engine)
    sessions = session_factory(engine)
    store = LocalStore(settings.segments_dir)
    box = SecretBox(settings.secret_key or _dev_key(settings))
    anchor = AnchorDir(settings.audit_anchor_path)
    audit_key = _audit_key(settings, anchor)
    checkpoints = Checkpointer(sessions, clock, audit_key, anchor,
                               legacy_key=box.derive(b"audit-chain"),
                               interval_s=settings.audit_checkpoint_interval_s,
                               every_events=settings.audit_checkpoint_events)
    checkpoints.initialise()  # checkpoint #1 before the first event chained with this key
    audit = AuditLog(sessions, clock, checkpoints.chain_key)
    registry = CameraRegistry(sessions, box, clock, audit)
    index = SegmentIndex(sessions)
    throttle = LoginThrottle(sessions, clock)  # in the database: shared by every web node
    accounts = Accounts(sessions, clock, box, settings.session_idle_s,
                        settings.session_absolute_s, throttle)
    grants = Grants(sessions, clock)
    gate = AccessGate(sessions, grants, audit, clock, box.derive(b"playback-token"))
    registry.on_change(gate.invalidate)
    cases = Cases(sessions, clock, audit, gate)
    # generated at first start; its private half is encrypted with a key derived from the
    # secret key, so a copy of the data directory alone cannot sign evidence
    evidence_key = EvidenceKey.load_or_create(settings.evidence_key_path,
                                              box.derive(b"evidence-signing-key"))
    exports = EvidenceExports(sessions, clock, audit, gate, cases, registry, index, store,
                              accounts, evidence_key, settings.exports_dir,
                              settings.max_export_s, settings.export_approval)
    return Container(settings=settings, engine=engine, sessions=sessions, clock=clock,
                     store=store, audit=audit, registry=registry, index=index,
                     accounts=accounts, grants=grants,
                     gate=gate,
                     purger=RetentionPurger(sessions, store, clock, audit, settings.plates_dir),
                     cases=cases, exports=exports, register=Register(sessions),
                     plates=PlateReading(sessions, clock, audit, gate, cases, index, store,
                                         PlateSearch(sessions), settings.plates_dir,
                                         settings.plates_mode, settings.plates_workers,
                                         settings.max_plates_s),
                     space=SpaceGuard(sessions, store, clock, audit, SpacePolicy(
                         settings.disk_min_free_pct, settings.disk_min_free_bytes,
                         settings.disk_min_free_minutes, settings.disk_reserve_bytes),
                         settings.data_dir.resolve(), settings.node_name,
                         settings.disk_check_interval_s),
                     login=LoginGuard(accounts, throttle, audit),
                     checkpoints=checkpoints,
                     leases=_lease_keeper(settings, engine, sessions),
                     nodes=NodeRegistry(sessions, clock, settings.node_name,
                                        format_roles(parse_roles(settings.roles)), __version__,
                                        _internal_url(settings), settings.node_heartbeat_s))


def _lease_keeper(settings: Settings, engine: Engine,
                  sessions: sessionmaker[Session]) -> LeaseKeeper | None:
    """Camera leases only in cluster mode on PostgreSQL; the single-node default has none."""
    if not settings.cluster or engine.dialect.name != "postgresql":
        return None
    return LeaseKeeper(sessions, settings.node_name, ttl_s=settings.lease_ttl_s)


def _internal_url(settings: Settings) -> str:
    """Where the other nodes reach this process (a wildcard address names the host)."""
    import socket

    host = settings.http_host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://{host}:{settings.http_port}"


def _audit_key(settings: Settings, anchor: AnchorDir) -> AuditKey:
    """The audit key: loaded, or generated when there is none and nothing was signed yet."""
    from guetteur.domain.errors import StorageError

    path = settings.audit_key_path
    if path.exists():
        return AuditKey.load(path)
    if anchor.numbers():
        raise StorageError(
            f"La clé d'audit {path} est absente alors que le dossier d'ancrage "
            f"{anchor.path} contient des points de contrôle signés : remettez la clé d'origine "
            "(sauvegarde) ou renseignez GUETTEUR_AUDIT_KEY_FILE. Une nouvelle clé rendrait le "
            "journal invérifiable.")
    key = AuditKey.create(path)
    log.warning("audit key generated at %s (fingerprint %s)", path, key.fingerprint())
    _warn_if_inside_data_dir(settings)
    return key


def _warn_if_inside_data_dir(settings: Settings) -> None:
    data = settings.data_dir.resolve()
    inside = [str(p) for p in (settings.audit_key_path, settings.audit_anchor_path)
              if data in p.parents]
    if inside:
        log.warning("%s inside the data directory: fine for development, but whoever holds "
                    "%s could rewrite the audit trail; production needs GUETTEUR_AUDIT_KEY_FILE "
                    "and GUETTEUR_AUDIT_ANCHOR_DIR elsewhere", " and ".join(inside), data)


def _dev_key(settings: Settings) -> str:
    """Development only: a key generated once and kept in DATA_DIR/secret.key (mode 0600)."""
    import secrets

    path = settings.data_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
        log.warning("no GUETTEUR_SECRET_KEY: generated %s (development mode only)", path)
    return path.read_text().strip()


def check_production(c: Container) -> None:
    """Refuse to serve in production mode without a named, non-placeholder administrator
    (the secret key is already checked by the settings)."""
    if c.settings.mode != "production":
        return
    admins = [u for u in c.accounts.list() if u.role == "admin" and u.enabled]
    if not admins:
        raise GuetteurError("Production mode: no enabled administrator account. Create one "
                            "with `guetteur user add NAME --role admin` (password on stdin).")
    weak = c.accounts.weak_admins()
    if weak:
        raise GuetteurError(f"Production mode: administrator(s) {', '.join(weak)} still have a "
                            "placeholder password. Reset it with `guetteur user reset NAME`.")
