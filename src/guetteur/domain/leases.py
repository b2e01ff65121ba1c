"""Camera lease rules and balancing (issue 10, decision 0012). Pure: no I/O, no clock.

A lease gives one recorder node the right to record one (camera, stream) until
`expires_utc_us`. Invariants:
- a grant always increases the epoch by one (fencing: writes under an older epoch are refused);
- a lease is free when it has no owner or is expired; only its owner may renew it, and only
  while it is not expired and the epoch is the one the owner was granted;
- balancing is deterministic (sorted keys, node names as tie-breakers) and moves the fewest
  streams: a node releases only what puts it above its fair share + 1 (by weight), and
  acquires free streams only while it stays at or below its fair share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

StreamKey = tuple[int, str]  # (camera_id, stream)

DEFAULT_TTL_S = 8.0
RELEASE_REASONS = ("node_drained", "rebalance", "stopped")


@dataclass(frozen=True)
class LeaseState:
    owner: str | None
    epoch: int
    expires_utc_us: int


def is_expired(lease: LeaseState, now_utc_us: int) -> bool:
    return lease.expires_utc_us <= now_utc_us


def is_free(lease: LeaseState, now_utc_us: int) -> bool:
    return lease.owner is None or is_expired(lease, now_utc_us)


def can_renew(lease: LeaseState, me: str, my_epoch: int, now_utc_us: int) -> bool:
    return lease.owner == me and lease.epoch == my_epoch and not is_expired(lease, now_utc_us)


def grant(lease: LeaseState | None, me: str, now_utc_us: int, ttl_s: float) -> LeaseState:
    """The lease after `me` takes it (caller checked it is free): epoch + 1."""
    epoch = 0 if lease is None else lease.epoch
    return LeaseState(owner=me, epoch=epoch + 1, expires_utc_us=now_utc_us + int(ttl_s * 1e6))


def renew_interval_s(ttl_s: float) -> float:
    """Renew three times per TTL: two renewals may be lost before the lease expires."""
    return ttl_s / 3


@dataclass(frozen=True)
class BalancePlan:
    fair_share: float  # weight per live node
    release: tuple[StreamKey, ...]  # leases `me` should let go (reason rebalance)
    acquire: tuple[StreamKey, ...]  # free leases `me` may take now


def fair_share(weights: Mapping[StreamKey, float], live_nodes: Sequence[str]) -> float:
    if not live_nodes:
        return math.inf
    return sum(weights.values()) / len(live_nodes)


def plan(me: str, weights: Mapping[StreamKey, float], owners: Mapping[StreamKey, str | None],
         live_nodes: Sequence[str]) -> BalancePlan:
    """What node `me` should release and may acquire.

    `weights`: every stream to record (1.0 each, or its bitrate); `owners`: the current live
    owner of each stream (None or missing: free, expired, or held by a dead node);
    `live_nodes`: recorder nodes with a fresh heartbeat that are not draining. A node not in
    `live_nodes` (draining) releases everything and takes nothing.
    """
    keys = sorted(weights)
    if me not in live_nodes:
        mine = tuple(k for k in keys if owners.get(k) == me)
        return BalancePlan(fair_share(weights, live_nodes), mine, ())
    share = fair_share(weights, live_nodes)
    max_w = max(weights.values(), default=1.0)
    held = [k for k in keys if owners.get(k) == me]
    load = sum(weights[k] for k in held)
    release: list[StreamKey] = []
    # Release from the end (highest keys) while above share + one stream's weight.
    for k in reversed(held):
        if load - weights[k] >= share and load > share + max_w - 1e-9:
            release.append(k)
            load -= weights[k]
        else:
            break
    acquire: list[StreamKey] = []
    free = [k for k in keys if owners.get(k) not in live_nodes]
    # Spread free streams over the least-loaded nodes: `me` takes the free streams that a
    # deterministic greedy assignment (lightest node first, name as tie-break) gives it.
    loads = {n: sum(weights[k] for k in keys if owners.get(k) == n) for n in live_nodes}
    loads[me] = load
    for k in free:
        target = min(sorted(live_nodes), key=lambda n: loads[n])
        loads[target] += weights[k]
        if target == me:
            acquire.append(k)
    return BalancePlan(share, tuple(release), tuple(acquire))
