"""Segment files on a local file system.

Keys look like `cam000012/main/20261125T183000123Z_000042.mp4`: the camera id, the stream, the
recorder run (its start in UTC) and the segment's number in that run. Files are written by
ffmpeg straight to their final path; `finalize` fsyncs a finished file (and its folder) before
its row is inserted, so an indexed segment is always on disk. Out of space (ENOSPC) is
`InsufficientStorage`; other file errors are `StorageError`.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from guetteur.domain.errors import InsufficientStorage, StorageError

_CHUNK = 1 << 20
DISK_FULL = ("Stockage des images plein : le segment n'a pas pu être écrit. L'espace est "
             "libéré automatiquement (images les plus anciennes non protégées).")


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def stream_dir(self, camera_id: int, stream: str) -> Path:
        path = self.root / f"cam{camera_id:06d}" / stream
        path.mkdir(parents=True, exist_ok=True)
        return path

    def key_of(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def path_of(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise StorageError(f"storage key {key!r} leaves the storage root")
        return path

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def size_bytes(self, key: str) -> int:
        return self.path_of(key).stat().st_size

    def finalize(self, key: str) -> tuple[int, str]:
        """fsync the file and its folder; return (size, sha256)."""
        path = self.path_of(key)
        digest = hashlib.sha256()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                os.fsync(fh.fileno())
                size = fh.tell()
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise InsufficientStorage(DISK_FULL) from exc
            raise StorageError(f"cannot finalize segment {key}: {exc.strerror}") from exc
        return size, digest.hexdigest()

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        with self.path_of(key).open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def delete(self, key: str) -> bool:
        """Remove a file; False if it was already gone."""
        try:
            self.path_of(key).unlink()
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete segment {key}: {exc.strerror}") from exc

    def truncate(self, key: str, size: int) -> None:
        path = self.path_of(key)
        with path.open("r+b") as fh:
            fh.truncate(size)
            os.fsync(fh.fileno())

    def iter_keys(self) -> Iterator[str]:
        for path in sorted(self.root.glob("cam*/*/*.mp4")):
            yield self.key_of(path)
