"""The audit chain: each event's hash covers its fields and the previous event's hash, so an
edited, deleted, inserted or reordered event breaks the chain from that point on.

The hash is an HMAC-SHA-256 keyed with a key derived from the server's secret key, which is
not in the database: someone who can write to the database but does not hold the key cannot
recompute a valid chain after editing it. (Without a key, plain SHA-256 is used: tests and
tools that only need the structure.)

`event_hash` is the single definition of what is hashed; `verify_chain` walks events in id order
and returns the first bad one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at_utc_us: int
    user_id: int | None
    username: str | None
    action: str
    camera_id: int | None
    range_from_utc_us: int | None
    range_to_utc_us: int | None
    client_addr: str | None
    detail: str
    prev_hash: str
    hash: str
    reason: str | None = None


def canonical_detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def event_hash(prev_hash: str, at_utc_us: int, user_id: int | None, username: str | None,
               action: str, camera_id: int | None, range_from_utc_us: int | None,
               range_to_utc_us: int | None, client_addr: str | None, detail: str,
               reason: str | None = None, *, key: bytes = b"") -> str:
    """SHA-256 of the canonical JSON of the fields. `reason` (added in schema 0002) is
    appended only when present, so events written before it keep their hash."""
    fields: list[object] = [prev_hash, at_utc_us, user_id, username, action, camera_id,
                            range_from_utc_us, range_to_utc_us, client_addr, detail]
    if reason is not None:
        fields.append(reason)
    payload = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    if key:
        return hmac.new(key, payload, hashlib.sha256).hexdigest()
    return hashlib.sha256(payload).hexdigest()


def verify_chain(records: Iterable[AuditRecord],
                 key: bytes = b"") -> tuple[int, int | None, str]:
    """(events checked, id of the first bad event or None, what is wrong)."""
    prev = GENESIS
    count = 0
    for rec in records:
        count += 1
        if rec.prev_hash != prev:
            return count, rec.id, "previous-hash link broken (event deleted, inserted or moved)"
        expected = event_hash(rec.prev_hash, rec.at_utc_us, rec.user_id, rec.username,
                              rec.action, rec.camera_id, rec.range_from_utc_us,
                              rec.range_to_utc_us, rec.client_addr, rec.detail, rec.reason,
                              key=key)
        if expected != rec.hash:
            return count, rec.id, "content does not match its hash (event modified)"
        prev = rec.hash
    return count, None, "ok"
