"""The one exception tree of Guetteur.

Every error a user can meet is a `GuetteurError`; adapters translate third-party errors into it
and the web layer maps each class to exactly one HTTP status (see `web/errors.py`). Messages are
written for the person who has to act: they say what is wrong and what to do.

    GuetteurError
     ├── InvalidInput        bad value from a user (HTTP 422)
     │    ├── RangeNotSatisfiable  a byte range beyond the file (416)
     │    └── TooLarge       request body over the configured cap (413)
     ├── NotFound            unknown camera, segment, partner... (404)
     ├── Conflict            duplicate name, state that forbids the change (409)
     ├── NotAuthenticated    no valid session (401)
     ├── Forbidden           valid session, no right to this (403)
     ├── NoFootage           nothing recorded in the asked range (404)
     ├── StorageError        disk or object store failure (503)
     │    └── InsufficientStorage  not enough free space for the asked work (507)
     └── MediaError          ffmpeg/PyAV failure on a stream or a file (502)
"""

from __future__ import annotations


class GuetteurError(Exception):
    """Base of every error Guetteur raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(GuetteurError):
    """A value given by a user is not acceptable; nothing was changed."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RangeNotSatisfiable(InvalidInput):
    """The asked byte range starts past the end of the file (HTTP Range)."""

    def __init__(self, message: str, size_bytes: int) -> None:
        super().__init__(message, "range")
        self.size_bytes = size_bytes


class TooLarge(InvalidInput):
    """The request body is larger than the server accepts; nothing was read past the cap."""


class NotFound(GuetteurError):
    """The named object does not exist."""


class Conflict(GuetteurError):
    """The change would break a uniqueness rule or the object's state forbids it."""


class NotAuthenticated(GuetteurError):
    """No valid session: log in first."""


class Forbidden(GuetteurError):
    """The caller is known but has no right to this action on this object."""


class NoFootage(GuetteurError):
    """Nothing was recorded for the asked camera and time range."""


class StorageError(GuetteurError):
    """The storage could not read or write a file."""


class InsufficientStorage(StorageError):
    """Not enough free disk space to do the asked work; nothing was started."""


class MediaError(GuetteurError):
    """ffmpeg or PyAV failed on a stream or a file."""
