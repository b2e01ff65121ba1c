"""What runs on a `worker` node: the background work that no person waits on at a screen.

- the evidence export and plate reading job runners (claim and run queued jobs);
- the retention purge (delete expired footage, write the register);
- the audit checkpoints (sign and anchor the audit chain periodically and at shutdown):
  audit events are written by every node into the shared database, one role anchors them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guetteur.bootstrap import Container


def start_jobs(c: Container) -> None:
    c.exports.start_worker()
    c.plates.start_worker()


def start_purge(c: Container) -> None:
    c._tasks.append(asyncio.create_task(c.purger.run(c.settings.purge_interval_s),
                                        name="retention-purge"))


def start_checkpoints(c: Container) -> None:
    c._tasks.append(asyncio.create_task(c.checkpoints.run(), name="audit-checkpoints"))
