"""Camera leases for one recorder node (issue 10, decision 0012), on PostgreSQL.

`LeaseKeeper(me)` acquires, renews and releases `camera_lease` rows with conditional
statements, so exactly one node holds a (camera, stream) lease at a time whatever the races:
- acquire: UPDATE ... SET owner=me, epoch=epoch+1 WHERE owner IS NULL OR expires <= now
  (or INSERT ... ON CONFLICT DO NOTHING for a stream never leased); the row count says who won;
- renew: UPDATE ... WHERE owner=me AND epoch=my_epoch AND expires > now; 0 rows means the
  lease is lost: the caller must stop that stream's recorder at once;
- release: owner NULL with a reason, `last_end_utc_us` kept for the next owner's gap.
`index_fenced` inserts a batch of segment rows in one transaction only while the lease row
still says owner=me and epoch=my_epoch (SELECT ... FOR UPDATE), and moves last_end_utc_us:
a paused node that lost its lease cannot index anything (fencing).
Time comes from the database (`now()`), not from the node, so node clocks need not agree.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import RecordingGap, Segment
from guetteur.domain.leases import DEFAULT_TTL_S, RELEASE_REASONS, StreamKey, plan
from guetteur.services.segment_index import SegmentRow

log = logging.getLogger(__name__)

_NOW_US = "(extract(epoch from clock_timestamp()) * 1000000)::bigint"


@dataclass(frozen=True)
class HeldLease:
    camera_id: int
    stream: str
    epoch: int
    last_end_utc_us: int | None  # where the previous owner stopped: start of the takeover gap
    previous_reason: str | None  # released_reason, or "node_lost" when taken after expiry


class LeaseKeeper:
    def __init__(self, sessions: sessionmaker[Session], me: str, ttl_s: float = DEFAULT_TTL_S,
                 heartbeat_fresh_s: float = 15.0) -> None:
        self._sessions = sessions
        self.me = me
        self.ttl_us = int(ttl_s * 1e6)
        self.fresh_us = int(heartbeat_fresh_s * 1e6)
        self.held: dict[StreamKey, HeldLease] = {}

    def acquire(self, camera_id: int, stream: str) -> HeldLease | None:
        params = {"c": camera_id, "s": stream, "me": self.me, "ttl": self.ttl_us}
        with self._sessions.begin() as s:
            row = s.execute(text(
                "INSERT INTO camera_lease (camera_id, stream, owner, epoch, granted_utc_us,"
                f" expires_utc_us) VALUES (:c, :s, :me, 1, {_NOW_US}, {_NOW_US} + :ttl)"
                " ON CONFLICT DO NOTHING RETURNING epoch, last_end_utc_us"), params).first()
            reason: str | None = None
            if row is None:
                row = s.execute(text(
                    "UPDATE camera_lease l SET owner=:me, epoch=l.epoch+1,"
                    f" granted_utc_us={_NOW_US}, expires_utc_us={_NOW_US} + :ttl,"
                    " released_reason=NULL FROM (SELECT camera_id, stream, owner AS old_owner,"
                    " released_reason AS old_reason FROM camera_lease WHERE camera_id=:c AND"
                    " stream=:s FOR UPDATE) o WHERE l.camera_id=o.camera_id AND"
                    f" l.stream=o.stream AND (l.owner IS NULL OR l.expires_utc_us <= {_NOW_US})"
                    " RETURNING l.epoch, l.last_end_utc_us, o.old_owner, o.old_reason"),
                    params).first()
                if row is None:
                    return None
                reason = "node_lost" if row[2] is not None else row[3]
        lease = HeldLease(camera_id, stream, int(row[0]), row[1], reason)
        self.held[(camera_id, stream)] = lease
        return lease

    def renew_all(self) -> list[StreamKey]:
        """Renew every held lease; returns the ones lost (stop their recorders now)."""
        lost: list[StreamKey] = []
        for key, lease in list(self.held.items()):
            with self._sessions.begin() as s:
                res = s.execute(text(
                    f"UPDATE camera_lease SET expires_utc_us={_NOW_US} + :ttl WHERE"
                    " camera_id=:c AND stream=:s AND owner=:me AND epoch=:e AND"
                    f" expires_utc_us > {_NOW_US}"),
                    {"c": key[0], "s": key[1], "me": self.me, "e": lease.epoch,
                     "ttl": self.ttl_us})
                n = cast("CursorResult[Any]", res).rowcount
            if n != 1:
                log.warning("lease lost: camera %s stream %s epoch %s", *key, lease.epoch)
                del self.held[key]
                lost.append(key)
        return lost

    def release(self, camera_id: int, stream: str, reason: str) -> None:
        assert reason in RELEASE_REASONS
        lease = self.held.pop((camera_id, stream), None)
        if lease is None:
            return
        with self._sessions.begin() as s:
            s.execute(text(
                "UPDATE camera_lease SET owner=NULL, released_reason=:r WHERE camera_id=:c"
                " AND stream=:s AND owner=:me AND epoch=:e"),
                {"c": camera_id, "s": stream, "me": self.me, "e": lease.epoch, "r": reason})

    def live_nodes(self) -> list[str]:
        """Recorder nodes with a fresh heartbeat that are not draining."""
        with self._sessions() as s:
            rows = s.execute(text(
                "SELECT name FROM cluster_node WHERE draining = false AND"
                f" heartbeat_utc_us > {_NOW_US} - :fresh AND"
                " (',' || roles || ',') LIKE '%,recorder,%' ORDER BY name"),
                {"fresh": self.fresh_us}).all()
        return [r[0] for r in rows]

    def current_owners(self) -> dict[StreamKey, str | None]:
        with self._sessions() as s:
            rows = s.execute(text(
                f"SELECT camera_id, stream, CASE WHEN expires_utc_us > {_NOW_US}"
                " THEN owner END FROM camera_lease")).all()
        return {(int(r[0]), str(r[1])): r[2] for r in rows}

    def balance(self, weights: Mapping[StreamKey, float]) -> tuple[list[StreamKey],
                                                                  list[HeldLease]]:
        """One balancing round: release (rebalance / node_drained) then acquire."""
        nodes = self.live_nodes()
        p = plan(self.me, weights, self.current_owners(), nodes)
        reason = "rebalance" if self.me in nodes else "node_drained"
        for key in p.release:
            self.release(key[0], key[1], reason)
        got = [g for k in p.acquire if (g := self.acquire(k[0], k[1])) is not None]
        return list(p.release), got

    def index_fenced(self, rows: Sequence[SegmentRow]) -> list[SegmentRow]:
        """Insert the rows whose lease is still ours, atomically with the check; returns
        the refused rows (their recorder must stop)."""
        refused: list[SegmentRow] = []
        with self._sessions.begin() as s:
            for r in rows:
                lease = self.held.get((r.camera_id, r.stream))
                ok = lease is not None and s.execute(text(
                    "SELECT 1 FROM camera_lease WHERE camera_id=:c AND stream=:s AND"
                    " owner=:me AND epoch=:e FOR UPDATE"),
                    {"c": r.camera_id, "s": r.stream, "me": self.me,
                     "e": lease.epoch}).first() is not None
                if not ok or lease is None:
                    refused.append(r)
                    continue
                if lease.last_end_utc_us is not None and lease.previous_reason is not None \
                        and r.start_utc_us > lease.last_end_utc_us:
                    # First segment after a takeover: the hole between owners, with its cause.
                    s.add(RecordingGap(camera_id=r.camera_id, stream=r.stream,
                                       start_utc_us=lease.last_end_utc_us,
                                       end_utc_us=r.start_utc_us,
                                       reason=lease.previous_reason))
                    lease = HeldLease(lease.camera_id, lease.stream, lease.epoch, None, None)
                    self.held[(r.camera_id, r.stream)] = lease
                s.add(Segment(camera_id=r.camera_id, stream=r.stream, storage_key=r.storage_key,
                              start_utc_us=r.start_utc_us, end_utc_us=r.end_utc_us,
                              size_bytes=r.size_bytes, sha256=r.sha256, codec=r.codec,
                              init_size_bytes=r.init_size_bytes,
                              clock_drift_ms=r.clock_drift_ms, recovered=r.recovered,
                              epoch=lease.epoch))
                s.execute(text(
                    "UPDATE camera_lease SET last_end_utc_us=GREATEST(COALESCE("
                    "last_end_utc_us, 0), :end) WHERE camera_id=:c AND stream=:s"),
                    {"c": r.camera_id, "s": r.stream, "end": r.end_utc_us})
        if refused:
            log.warning("fenced: %d segment rows refused (lease lost)", len(refused))
        return refused
