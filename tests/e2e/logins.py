"""Logging in through the browser for the e2e tests, second factor included.

An account that can see images logs in in two steps: password, then a 6-digit TOTP code
(`/login/mfa`), or on its first login the enrolment page (`/login/enrol`) that shows the
secret (element `#totp-secret`) and asks for a first code. The secrets are learnt at
enrolment and kept here for the whole test session (key: server address and username).

The server accepts a code of the current 30-s step or of the steps just before and after,
and each step once per account (no replay). `next_code` hands out the earliest step that is
still unused and still accepted, and waits for the clock only when three logins of the same
account fall in the same step.
"""

from __future__ import annotations

import time
from typing import Any

import pyotp

STEP_S = 30
_SECRETS: dict[tuple[str, str], str] = {}
_LAST_STEP: dict[tuple[str, str], int] = {}


def remember_secret(base_url: str, username: str, secret: str) -> None:
    _SECRETS[(base_url, username)] = secret.strip().replace(" ", "")
    _LAST_STEP.pop((base_url, username), None)


def known_secret(base_url: str, username: str) -> str | None:
    return _SECRETS.get((base_url, username))


def next_code(base_url: str, username: str, *, after_step: int | None = None) -> str:
    """A code the server will accept now and has not seen yet for this account.

    `after_step`: use only a step after this one (the test wants a code from a later step
    than the one it just used, whatever this module remembers)."""
    key = (base_url, username)
    totp = pyotp.TOTP(_SECRETS[key])
    last = max(_LAST_STEP.get(key, -1), after_step if after_step is not None else -1)
    while True:
        now = time.time()
        step_now = int(now // STEP_S)
        # The step before is safe only early in the current step (the server checks a moment
        # later); the step after is always safe (accepted now and in the next step).
        lowest = step_now - 1 if now % STEP_S < STEP_S - 8 else step_now
        step = max(last + 1, lowest)
        if step <= step_now + 1:
            _LAST_STEP[key] = step
            return totp.at(step * STEP_S)
        time.sleep(0.5)


def last_step(base_url: str, username: str) -> int:
    return _LAST_STEP[(base_url, username)]


RATE_LIMITED = "Trop de tentatives"
RATE_WAIT_S = 65  # the server counts attempts per client address over a sliding minute


def _error_text(page: Any) -> str:
    error = page.locator("#login-error")
    return error.inner_text() if error.count() else ""


def path_of(page: Any) -> str:
    from urllib.parse import urlsplit

    return urlsplit(page.url).path


def submit_password(page: Any, username: str, password: str, next_path: str = "") -> None:
    """The first step; waits out the server's per-address rate limit if it answers 429"""
    deadline = time.monotonic() + RATE_WAIT_S
    while True:
        page.goto("/login" + (f"?next={next_path}" if next_path else ""))
        page.fill("#username", username)
        page.fill("#password", password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        if RATE_LIMITED not in _error_text(page) or time.monotonic() > deadline:
            return
        time.sleep(5)


def second_factor(page: Any, base_url: str, username: str) -> str:
    """On /login/enrol or /login/mfa: read the secret if enrolling, type a fresh code.
    Returns the stage it went through ("enrol", "mfa" or "" if none was asked)."""
    stage = {"/login/enrol": "enrol", "/login/mfa": "mfa"}.get(path_of(page), "")
    if not stage:
        return ""
    stage_url = page.url
    if stage == "enrol":
        remember_secret(base_url, username, page.locator("#totp-secret").inner_text())
    elif known_secret(base_url, username) is None:
        raise AssertionError(f"{username} is already enrolled with a secret this test session "
                             "never saw (enrolled outside the tests?)")
    deadline = time.monotonic() + RATE_WAIT_S
    while True:
        page.fill("#code", next_code(base_url, username))
        with page.expect_navigation():
            page.click("form#mfa-form button[type=submit], form#enrol-form button[type=submit]")
        if RATE_LIMITED not in _error_text(page) or time.monotonic() > deadline:
            return stage
        # The refused code's step counts as used on our side only; back to the stage's page.
        time.sleep(5)
        page.goto(stage_url)


def login(page: Any, base_url: str, username: str, password: str, next_path: str = "") -> str:
    """Password, then the second factor if the account needs one; asserts the session is
    open (no longer on a /login page). Returns the stage of the second factor."""
    submit_password(page, username, password, next_path)
    assert path_of(page) != "/login", f"{username}: password refused: {_error_text(page)}"
    stage = second_factor(page, base_url, username)
    if path_of(page).startswith("/login"):
        raise AssertionError(f"{username}: second factor refused: "
                             f"{_error_text(page) or page.url}")
    return stage


# Logged-in browser states (cookies) kept for the whole test session, so that tests which are
# not about logging in do not spend logins (rate-limited per address) nor TOTP steps.
# Never log out of a session whose state is kept here.
_STATES: dict[tuple[str, str], Any] = {}


def keep_state(page: Any, base_url: str, username: str) -> None:
    _STATES[(base_url, username)] = page.context.storage_state()


def storage_state(browser: Any, base_url: str, username: str, password: str) -> Any:
    """The storage state of an open session of this user, logging in once per test session."""
    key = (base_url, username)
    if key not in _STATES:
        context = browser.new_context(base_url=base_url, locale="fr-FR",
                                      timezone_id="Europe/Paris")
        context.set_default_timeout(15_000)
        try:
            page = context.new_page()
            login(page, base_url, username, password)
            keep_state(page, base_url, username)
        finally:
            context.close()
    return _STATES[key]
