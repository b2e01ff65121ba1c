"""From the live view, « Relecture » opens playback 30 s before now, and the operator can
rewind to 10 s before now and watch it play: playback reaches the live edge (decision 0008).

Its own server with the default 60-s segments (the session `ui_server` cuts every 4 s): 40 s
after the start no segment is finished, so everything played comes from the open segment.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import logins
import pytest

from support import ServerProcess, SimulatedCameras

pytestmark = pytest.mark.e2e
ADMIN = ("admin", "edge-admin-password-42")


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work: Path = tmp_path_factory.mktemp("edge")
    sim = SimulatedCameras(work, cameras=1).start()
    server = ServerProcess(work / "var")  # default segment length: 60 s
    try:
        for args, stdin in ((("camera", "add", "CAM-01", "--url", sim.url(0)), None),
                            (("user", "add", ADMIN[0], "--role", "admin"), ADMIN[1] + "\n"),
                            (("grant", "add", ADMIN[0], "--action", "live"), None),
                            (("grant", "add", ADMIN[0], "--action", "playback"), None)):
            done = server.cli(*args, stdin=stdin)
            assert done.returncode == 0, (args, done.stderr)
        server.start()
        yield server
    finally:
        server.stop()
        sim.stop()


@pytest.fixture
def admin_page(browser: Any, edge_server: ServerProcess) -> Iterator[Any]:
    state = logins.storage_state(browser, edge_server.base_url, *ADMIN)
    context = browser.new_context(base_url=edge_server.base_url, locale="fr-FR",
                                  timezone_id="Europe/Paris", storage_state=state,
                                  viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def recorded_since(page: Any, camera_id: int, seconds: float) -> None:
    """Wait until the camera has recorded without a hole for the last `seconds`."""
    deadline = time.monotonic() + 60
    while True:
        now = time.time_ns() // 1000
        spans = page.request.get(f"/api/cameras/{camera_id}/timeline?from={now - 600_000_000}"
                                 f"&to={now}").json()["spans"]
        if any(s["start_utc_us"] <= now - seconds * 1e6 < s["end_utc_us"] for s in spans[-1:]):
            return
        assert time.monotonic() < deadline, spans
        time.sleep(1)


PLAYING = ("() => window.guetteurPlayback && window.guetteurPlayback.currentUtcUs() !== null"
           " && document.querySelector('#pb-video').readyState >= 2")


def test_relecture_from_live_opens_30_s_back_and_rewinds_to_10_s_before_now(
        admin_page: Any, edge_server: ServerProcess) -> None:
    page = admin_page
    cam = 1
    recorded_since(page, cam, 32)
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
    # all of it from the segment being written: no 60-s segment is finished yet
    urls = page.evaluate("() => window.guetteurPlayback.hls.levels[0].details.fragments"
                         ".map(f => f.url)")
    assert urls and all("/recording/" in u for u in urls), urls
