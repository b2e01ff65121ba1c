"""From the live view, « Relecture » opens playback 30 s before now, and the operator can
rewind to 10 s before now and watch it play: playback reaches the live edge (decision 0008).
Runs on the session `ui_server` of conftest.py (real server, simulated cameras, Chromium)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import logins
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def admin_page(browser: Any, ui_server: Any) -> Iterator[Any]:
    state = logins.storage_state(browser, ui_server.base_url, ui_server.username,
                                 ui_server.password)
    context = browser.new_context(base_url=ui_server.base_url, locale="fr-FR",
                                  timezone_id="Europe/Paris", storage_state=state,
                                  viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


PLAYING = ("() => window.guetteurPlayback && window.guetteurPlayback.currentUtcUs() !== null"
           " && document.querySelector('#pb-video').readyState >= 2")


def test_relecture_from_live_opens_30_s_back_and_rewinds_to_10_s_before_now(
        admin_page: Any, ui_server: Any) -> None:
    page = admin_page
    cam = ui_server.camera_ids[0]
    page.goto(f"/live/{cam}")
    page.wait_for_function("() => { const v = document.querySelector('#live-video');"
                           " return v.readyState >= 2 && v.currentTime > 0.5; }")
    button = page.locator("#link-playback")
    button.wait_for(state="visible")
    assert button.inner_text().strip() == "Relecture"
    clicked_us = time.time_ns() // 1000
    button.click()
    page.wait_for_url(f"**/playback/{cam}?*")
    page.wait_for_function(PLAYING)
    opened = page.evaluate("() => window.guetteurPlayback.currentUtcUs()")
    assert abs(opened - (clicked_us - 30_000_000)) < 3_000_000, (opened - clicked_us) / 1e6

    # the timeline shows the current minute as recorded, up to a few seconds behind live
    page.wait_for_function("() => window.guetteurPlayback.timeline()")
    newest = page.evaluate("() => Math.max(...window.guetteurPlayback.timeline().spans"
                           ".map(s => s.end_utc_us))")
    assert clicked_us - newest < 5_000_000, (clicked_us - newest) / 1e6

    # rewind (from the live edge's point of view) to 10 s before now: it shows and plays
    target = page.evaluate("() => { const t = Date.now() * 1000 - 10e6;"
                           " window.guetteurPlayback.seekTo(t); return t; }")
    page.wait_for_function("t => { const u = window.guetteurPlayback.currentUtcUs();"
                           " return u !== null && Math.abs(u - t) < 2e6; }", arg=target)
    start = page.evaluate("() => document.querySelector('#pb-video').currentTime")
    page.wait_for_function("s => { const v = document.querySelector('#pb-video');"
                           " return !v.paused && v.currentTime > s + 1; }", arg=start)
    shown = page.evaluate("() => window.guetteurPlayback.currentUtcUs()")
    assert shown > target + 500_000
