"""The login throttling rules (domain/throttle.py): backoff per failure, the hard limit of the
second factor, alerts once a run, and the bound on second-factor guesses."""

from __future__ import annotations

from guetteur.domain.throttle import ACCOUNT, ADDRESS, FOREVER_UTC_US, PAIR, TOTP, S


def test_a_pair_backs_off_exponentially_up_to_its_cap() -> None:
    assert [PAIR.block_s(n) for n in range(1, 12)] == [
        0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]
    assert PAIR.blocked_until_us(4, 0) is None
    assert PAIR.blocked_until_us(5, 10 * S) == 40 * S


def test_the_account_counter_alerts_but_never_blocks() -> None:
    assert all(ACCOUNT.block_s(n) == 0 for n in range(1, 1000))
    assert [n for n in range(1, 1000) if ACCOUNT.alerts(n)] == [50, 100, 200, 400, 800]


def test_the_address_counter_is_for_many_names_from_one_place() -> None:
    assert ADDRESS.block_s(29) == 0 and ADDRESS.block_s(30) == 60
    assert ADDRESS.block_s(100) == 3600


def test_a_count_restarts_after_a_quiet_period_only() -> None:
    assert not PAIR.restarts(0, 24 * 3600 * S)
    assert PAIR.restarts(0, 24 * 3600 * S + 1)


def test_second_factor_guessing_is_bounded_whatever_the_patience() -> None:
    """A guesser who waits out every block, forever, gets 20 codes checked: with 3 codes
    accepted per try (one step either side), at most 6e-5 of the 10^6 space."""
    now, checked, blocked_until = 0, 0, 0
    while blocked_until < FOREVER_UTC_US and checked < 100_000:
        now = max(now, blocked_until)
        checked += 1  # one more wrong code checked: the counter's failures
        blocked_until = max(blocked_until, TOTP.blocked_until_us(checked, now) or 0)
    assert checked == 20 and blocked_until == FOREVER_UTC_US
    assert checked * 3 / 10**6 <= 6e-5
    assert [TOTP.block_s(n) for n in (4, 5, 6, 9, 19, 20)] == [0, 300, 600, 3600, 3600, -1]
