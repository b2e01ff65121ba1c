"""Free space of a file system, the reserve file, and "disk full" recognised in errors.

`usage` is one `statvfs` call (cheap: the guard runs it every few seconds). Free space is what
an unprivileged process may use (`f_bavail`), not the blocks kept for root.

The reserve file is preallocated space (`posix_fallocate`, real blocks, not a sparse file) in
the data directory, where the SQLite database and the keys live. When recording must stop
because the disk is full, the guard deletes it, so the database, the audit trail and logins
get that room back at once; it is re-created once space has come back.

`is_disk_full` recognises ENOSPC however it arrives: an `OSError`, SQLite's "database or disk
is full", PostgreSQL's DiskFull (SQLSTATE 53100), wrapped by SQLAlchemy or not.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
RESERVE_NAME = "reserve-espace.bin"
_DISK_FULL_TEXT = ("database or disk is full", "no space left on device", "disk full",
                   "could not extend file")


@dataclass(frozen=True)
class Usage:
    free_bytes: int
    total_bytes: int
    device: int

    @property
    def used_bytes(self) -> int:
        return self.total_bytes - self.free_bytes


def usage(path: Path) -> Usage:
    st = os.statvfs(path)
    return Usage(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize, os.stat(path).st_dev)


def same_filesystem(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


class Reserve:
    """The preallocated reserve file in one directory."""

    def __init__(self, directory: Path, size_bytes: int) -> None:
        self.path = directory / RESERVE_NAME
        self.size_bytes = size_bytes

    def present_bytes(self) -> int:
        try:
            return self.path.stat().st_blocks * 512
        except FileNotFoundError:
            return 0

    def missing_bytes(self) -> int:
        return max(0, self.size_bytes - self.present_bytes())

    def create(self) -> bool:
        """Allocate the reserve; False (and nothing left behind) if the space is not there."""
        if self.size_bytes <= 0 or self.missing_bytes() == 0:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size_bytes)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("reserve file %s not allocated: %s", self.path, exc.strerror)
            self.release()
            return False
        return True

    def release(self) -> int:
        """Delete the reserve; the bytes it gave back."""
        given = self.present_bytes()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        return given


def is_disk_full(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if getattr(exc, "sqlstate", None) == "53100":  # psycopg DiskFull
            return True
        text = str(exc).lower()
        if any(t in text for t in _DISK_FULL_TEXT):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
        seen += 1
    return False
