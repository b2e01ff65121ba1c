"""What runs on a `recorder` node: the cameras are recorded here.

- the segment writer (batches segment rows into the index) and the camera status writer;
- the disk space guard (first check before any recorder starts: a full disk is known at once);
- the recorder supervisor (one ffmpeg per camera stream this node records);
- a node statistic: the number of camera streams recorded here.

Without this role none of them exists: `Container.writer`, `status` and `supervisor` stay None.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from guetteur.services.recorder import RecorderConfig, RecorderDeps, RecorderSupervisor
from guetteur.services.segment_writer import SegmentWriter
from guetteur.services.status import StatusBoard

if TYPE_CHECKING:
    from guetteur.bootstrap import Container

log = logging.getLogger(__name__)


def start_writers(c: Container) -> None:
    """The segment writer and the status writer (also started with `record=False`)."""
    c.writer = SegmentWriter(c.store, c.index)
    c.status = StatusBoard(c.sessions, c.clock, c.settings.node_name)
    c.writer_task = asyncio.create_task(c.writer.run(), name="segment-writer")
    c._tasks.append(asyncio.create_task(c.status.run(), name="status-writer"))


async def start_recording(c: Container) -> None:
    s = c.settings
    try:
        await c.space.check()
    except Exception:
        log.exception("space guard: first check failed")
    c._tasks.append(asyncio.create_task(c.space.run(), name="space-guard"))
    config = RecorderConfig(ffmpeg=s.ffmpeg_path, segment_s=s.segment_duration_s,
                            timeout_s=s.rtsp_timeout_s, backoff_max_s=s.backoff_max_s,
                            node=s.node_name)
    assert c.writer is not None and c.status is not None
    deps = RecorderDeps(c.store, c.writer, c.index, c.status, c.clock, config, c.space)
    supervisor = RecorderSupervisor(c.registry, deps, s.reconcile_interval_s)
    c.supervisor = supervisor
    c._tasks.append(asyncio.create_task(supervisor.run(), name="recorders"))
    c.nodes.add_stats_provider("cameras", lambda: len(list(supervisor.recorders())))
