"""Login throttling rules: which counters a failed login feeds and how long each one blocks.

Pure: no clock, no database. `services/login_throttle.py` keeps one row per counter key and
applies these rules atomically; `docs/decisions/0010-login-throttling.md` says why they are
what they are.

Counters (the `kind` of a row):
- `pair`: one typed account name x one client address. Its failures block only that pair, with
  exponential backoff, so an outsider's wrong passwords from address A never stop the operator
  logging in from address B. Unknown and existing names are counted alike (no enumeration).
- `address`: every failure from one client address, whatever the names: many accounts tried
  from one place are slowed down there.
- `account`: every failure on one account name, from anywhere. It never blocks (that is how
  an outsider would lock an operator out during an incident); crossing its ceiling (then each
  doubling of it) raises an alert in the audit trail.
- `totp`: wrong second-factor codes of one account, from anywhere. Only someone who knows the
  password can feed it; each run of `threshold` wrong codes ends the pending session and
  blocks the second factor with backoff; `hard_limit` consecutive wrong codes block it until
  an administrator unlocks the account (NIST SP 800-63B 5.2.2: at most 100), which makes
  guessing the 10^6 code space infeasible (at most `hard_limit` x 3 codes of the +/-1 step
  window ever tried).

Invariants: a block never shortens while a counter grows; a success from a pair clears that
pair (and the account's `totp` row after a right code), never the address counter (else one
valid account would launder an address's failures); rows quiet for `quiet_s` restart at zero.
"""

from __future__ import annotations

from dataclasses import dataclass

S = 1_000_000
FOREVER_UTC_US = 2**62  # "until an administrator unlocks": far beyond any real instant


@dataclass(frozen=True)
class Policy:
    """`threshold` failures (each less than `quiet_s` after the previous) start a block of
    `base_block_s`, doubled at each further failure up to `max_block_s`; `hard_limit`
    consecutive failures block until an unlock; `blocks` False: the counter only alerts."""

    kind: str
    threshold: int
    quiet_s: int
    base_block_s: int = 0
    max_block_s: int = 0
    hard_limit: int | None = None
    blocks: bool = True

    def block_s(self, failures: int) -> int:
        """Seconds the counter blocks after its `failures`-th failure (0: no block)."""
        if not self.blocks or failures < self.threshold:
            return 0
        if self.hard_limit is not None and failures >= self.hard_limit:
            return -1  # until unlocked
        return int(min(self.max_block_s, self.base_block_s * 2 ** (failures - self.threshold)))

    def blocked_until_us(self, failures: int, now_us: int) -> int | None:
        seconds = self.block_s(failures)
        if seconds == 0:
            return None
        return FOREVER_UTC_US if seconds < 0 else now_us + seconds * S

    def alerts(self, failures: int) -> bool:
        """True on the failure that crosses the ceiling, and at each doubling of it (an
        alert a run, not one a failure)."""
        if failures < self.threshold:
            return False
        ratio = failures // self.threshold
        return failures % self.threshold == 0 and ratio & (ratio - 1) == 0

    def restarts(self, last_us: int, now_us: int) -> bool:
        """True when the previous failure is old enough for the count to start again."""
        return now_us - last_us > self.quiet_s * S


PAIR = Policy("pair", threshold=5, quiet_s=24 * 3600, base_block_s=30, max_block_s=15 * 60)
ADDRESS = Policy("address", threshold=30, quiet_s=10 * 60, base_block_s=60, max_block_s=3600)
ACCOUNT = Policy("account", threshold=50, quiet_s=3600, blocks=False)
TOTP = Policy("totp", threshold=5, quiet_s=24 * 3600, base_block_s=5 * 60, max_block_s=3600,
              hard_limit=20)
POLICIES = {p.kind: p for p in (PAIR, ADDRESS, ACCOUNT, TOTP)}
CLEANUP_AFTER_S = 2 * 24 * 3600  # rows quiet this long and not blocking are deleted


def pair_key(name: str, addr: str | None) -> str:
    return f"pair:{name}\x1f{addr or '?'}"


def address_key(addr: str | None) -> str:
    return f"address:{addr or '?'}"


def account_key(name: str) -> str:
    return f"account:{name}"


def totp_key(name: str) -> str:
    return f"totp:{name}"
