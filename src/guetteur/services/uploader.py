"""Upload of finished segment files to the object store, through a bounded local spool.

The recorder writes and fsyncs files locally as today; each finished file is enqueued here.
`drain()` uploads the spool oldest first (verified put: size and SHA-256), calls `on_uploaded`
(the caller indexes the row with store='s3') and only then frees the local copy. Invariants:
- a file leaves the spool only after a verified upload and a successful `on_uploaded`; on a
  store error the drain stops (order kept) and the next try waits a growing backoff;
- nothing is lost across a restart: `rescan(keys)` puts back the files still on disk;
- above 80 % of `spool_max_bytes` an alert is logged once; `stats()` gives what the node's
  heartbeat publishes.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)
ALERT_FRACTION = 0.8


class ObjectStore(Protocol):
    def put(self, key: str, path: Path) -> tuple[int, str]: ...


class Uploader:
    def __init__(self, store: ObjectStore, path_of: Callable[[str], Path],
                 on_uploaded: Callable[[str, int, str], None], spool_max_bytes: int,
                 *, backoff_max_s: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 ) -> None:
        self._store = store
        self._path_of = path_of
        self._on_uploaded = on_uploaded
        self.spool_max_bytes = spool_max_bytes
        self._backoff_max_s = backoff_max_s
        self._clock = clock
        self._spool: OrderedDict[str, int] = OrderedDict()
        self._errors = 0
        self._last_error: str | None = None
        self._failures_in_row = 0
        self._next_try = 0.0
        self._alerted = False

    def enqueue(self, key: str) -> None:
        if key not in self._spool:
            self._spool[key] = self._path_of(key).stat().st_size
        self._check_bound()

    def rescan(self, keys: Iterable[str]) -> None:
        """Put back, oldest first (keys sort by run and number), the files still on disk."""
        for key in sorted(keys):
            if self._path_of(key).is_file():
                self.enqueue(key)

    def _check_bound(self) -> None:
        full = sum(self._spool.values()) >= ALERT_FRACTION * self.spool_max_bytes
        if full and not self._alerted:
            log.error("Spool d'envoi S3 rempli à plus de 80 %% (%d octets sur %d) : le stockage "
                      "objet ne répond pas, vérifiez-le.", sum(self._spool.values()),
                      self.spool_max_bytes)
        self._alerted = full

    @property
    def alert(self) -> bool:
        return self._alerted

    def drain(self) -> list[str]:
        """Upload the spool in order until it is empty or the store fails; uploaded keys."""
        done: list[str] = []
        if self._clock() < self._next_try:
            return done
        while self._spool:
            key = next(iter(self._spool))
            try:
                size, digest = self._store.put(key, self._path_of(key))
                self._on_uploaded(key, size, digest)
            except Exception as exc:
                self._errors += 1
                self._last_error = str(exc)
                self._failures_in_row += 1
                delay = min(self._backoff_max_s, 0.5 * 2 ** (self._failures_in_row - 1))
                self._next_try = self._clock() + delay
                log.warning("upload of %s failed (%s); retry in %.1f s", key, exc, delay)
                break
            self._failures_in_row = 0
            self._path_of(key).unlink(missing_ok=True)
            del self._spool[key]
            done.append(key)
        self._check_bound()
        return done

    def stats(self) -> dict[str, object]:
        return {"spool_bytes": sum(self._spool.values()), "spool_files": len(self._spool),
                "store_errors": self._errors, "last_error": self._last_error}
