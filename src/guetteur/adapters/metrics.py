"""Prometheus metrics of one node (decision 0014): what it records, serves, runs and stores.

`NodeMetrics(container)` owns one `CollectorRegistry` (never prometheus_client's global
default: several containers in one test process must not clash). Almost everything is read
from the services' own state at scrape time by one custom collector, so no call site needs a
metrics object: the recorders' states, the segment writer's counts and queue, the live hub's
viewers, the audit log's and the access gate's counts, the job tables, the space guard's last
report. Only media responses are counted as they are sent (`count_media`, from the web layer's
middleware).

Invariants:
- Labels are bounded sets (stream state, gap reason, media kind, job kind and state, action):
  never a camera, a user, an address or a URL. A city of 450 cameras gives the same number of
  series as a laptop with one.
- Nothing here reads a camera's URL or credentials.
- Counters are of this process since it started (Prometheus handles restarts); gauges of jobs
  are the shared tables' (the same on every node).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from guetteur.adapters.db.models import ExportJob, PlateJob

if TYPE_CHECKING:
    from guetteur.bootstrap import Container

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STREAM_STATES = ("starting", "recording", "reconnecting", "storage_full", "stopped")
JOB_STATES = ("queued", "running", "awaiting_approval", "done", "failed", "cancelled")
JOB_TABLES = (("export", ExportJob), ("plates", PlateJob))


class NodeMetrics:
    def __init__(self, container: Container) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._media: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.registry.register(_NodeCollector(container, self))

    def count_media(self, kind: str, status: int) -> None:
        key = (kind, f"{status // 100}xx")
        with self._lock:
            self._media[key] = self._media.get(key, 0) + 1

    def media_counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._media)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _NodeCollector(Collector):
    def __init__(self, c: Container, metrics: NodeMetrics) -> None:
        self._c = c
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        for part in (self._recorder, self._web, self._jobs, self._storage):
            try:
                yield from part()
            except Exception:  # one broken part must not hide the others
                log.exception("metrics: %s not collected", part.__name__)

    def _recorder(self) -> Iterator[Metric]:
        c = self._c
        streams = GaugeMetricFamily("guetteur_recorder_streams",
                                    "Camera streams this node records, by state",
                                    labels=["state"])
        counts = dict.fromkeys(STREAM_STATES, 0)
        restarts = c.supervisor.retired_restarts if c.supervisor is not None else 0
        for rec in c.supervisor.recorders() if c.supervisor is not None else []:
            counts[rec.state.state] = counts.get(rec.state.state, 0) + 1
            restarts += max(0, rec.state.runs - 1)
        for state, n in sorted(counts.items()):
            streams.add_metric([state], n)
        yield streams
        yield _counter("guetteur_recorder_restarts", "Times a recorder restarted ffmpeg "
                       "(reconnections after a stream stopped)", restarts)
        w = c.writer
        yield _counter("guetteur_segments_indexed", "Segment rows this node indexed",
                       w.indexed if w else 0)
        yield _counter("guetteur_recorded_bytes", "Bytes of the segments this node indexed",
                       w.indexed_bytes if w else 0)
        yield GaugeMetricFamily("guetteur_segment_writer_queue_depth",
                                "Finished segments and gaps waiting for the batching writer",
                                value=w.queue_depth if w else 0)
        gaps = CounterMetricFamily("guetteur_recording_gaps", "Recording gaps this node "
                                   "wrote, by reason", labels=["reason"])
        for reason, n in sorted((w.gaps if w else {}).items()):
            gaps.add_metric([reason], n)
        yield gaps

    def _web(self) -> Iterator[Metric]:
        c = self._c
        viewers = sum(c.live.viewers().values()) if c.live is not None else 0
        yield GaugeMetricFamily("guetteur_live_viewers", "Open live views on this node",
                                value=viewers)
        media = CounterMetricFamily("guetteur_media_responses", "Responses of the media "
                                    "routes (pixels), by kind and status class",
                                    labels=["kind", "status"])
        for (kind, status), n in sorted(self._metrics.media_counts().items()):
            media.add_metric([kind, status], n)
        yield media
        yield _counter("guetteur_audit_events", "Audit events this node wrote",
                       c.audit.appended)
        refusals = CounterMetricFamily("guetteur_access_refusals", "Requests the access gate "
                                       "refused, by action", labels=["action"])
        for action, n in sorted(c.gate.refusals.items()):
            refusals.add_metric([action], n)
        yield refusals

    def _jobs(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("guetteur_jobs", "Jobs in the shared job tables, by kind "
                                 "and state (the same on every node)", labels=["kind", "state"])
        with self._c.sessions() as db:
            for kind, model in JOB_TABLES:
                found = dict(db.execute(select(model.state, func.count())
                                        .group_by(model.state)).tuples().all())
                for state in JOB_STATES:
                    if kind == "plates" and state == "awaiting_approval":
                        continue
                    jobs.add_metric([kind, state], int(found.get(state, 0)))
        yield jobs

    def _storage(self) -> Iterator[Metric]:
        report = self._c.space.report
        if report is None:
            return
        yield GaugeMetricFamily("guetteur_storage_free_bytes", "Free bytes on the footage "
                                "storage's file system (space guard's last check)",
                                value=report.free_bytes)
        yield GaugeMetricFamily("guetteur_storage_total_bytes", "Size of the footage "
                                "storage's file system", value=report.total_bytes)
        yield GaugeMetricFamily("guetteur_storage_min_free_bytes", "Free space the space guard "
                                "keeps (watermark)", value=report.min_free_bytes)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)
