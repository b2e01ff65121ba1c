"""End-to-end tests of the browser side: headless Chromium against a real Guetteur server
recording simulated cameras (the `ui_server` fixture of tests/e2e/conftest.py).

What an operator does without training, in French: log in (password, then the 6-digit code
of the second factor, enrolled on the first login), watch the live wall, find an instant on
the playback timeline and watch from there, download a clip. Each test stays under ~30 s. The
`browser` (module) and `ui_server` (session) fixtures come from conftest.py; every test gets
its own browser context, seen by the server as a workstation of its own (logins are
rate-limited per client address). Tests that are not about
logging in reuse the administrator's session (`logins.storage_state`): each TOTP step is
accepted once per account.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import logins
import pytest

PARIS = ZoneInfo("Europe/Paris")

pytestmark = pytest.mark.e2e  # Chromium and Playwright are installed by scripts/setup


def _context(browser: Any, ui_server: Any, state: Any = None) -> Any:
    context = browser.new_context(base_url=ui_server.base_url, accept_downloads=True,
                                  viewport={"width": 1440, "height": 900}, locale="fr-FR",
                                  timezone_id="Europe/Paris", storage_state=state)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def page(browser: Any, ui_server: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) per test, on the `browser` of conftest.py."""
    context = _context(browser, ui_server)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def admin_page(browser: Any, ui_server: Any) -> Iterator[Any]:
    """A fresh context holding an open session of the fixture's administrator."""
    state = logins.storage_state(browser, ui_server.base_url, ui_server.username,
                                 ui_server.password)
    context = _context(browser, ui_server, state)
    try:
        yield context.new_page()
    finally:
        context.close()


def recorded_span(page: Any, camera_id: int, min_s: float) -> dict[str, int]:
    """The latest recorded span of today (Paris) at least `min_s` long, waiting for one."""
    deadline = time.monotonic() + 25
    while True:
        now = datetime.now(PARIS)
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        frm = int(day_start.astimezone(UTC).timestamp() * 1_000_000)
        to = int(now.astimezone(UTC).timestamp() * 1_000_000) + 60_000_000
        resp = page.request.get(f"/api/cameras/{camera_id}/timeline?from={frm}&to={to}")
        assert resp.ok, resp.text()
        spans = resp.json()["spans"]
        long_enough = [s for s in spans if (s["end_utc_us"] - s["start_utc_us"]) / 1e6 >= min_s]
        if long_enough:
            return max(long_enough, key=lambda s: s["start_utc_us"])
        if time.monotonic() > deadline:
            raise AssertionError(f"camera {camera_id}: no recorded span of {min_s} s: {spans}")
        time.sleep(1)


def paris_local(us: int) -> str:
    """A datetime-local value (Paris time, seconds) for UTC microseconds."""
    return datetime.fromtimestamp(us / 1e6, UTC).astimezone(PARIS).strftime("%Y-%m-%dT%H:%M:%S")


def seconds_of_day(hhmmss: str) -> int:
    h, m, sec = (int(x) for x in hhmmss.split(":"))
    return h * 3600 + m * 60 + sec


def test_login_wrong_password_then_right(page: Any, ui_server: Any) -> None:
    page.goto("/login")
    page.fill("#username", ui_server.username)
    page.fill("#password", "pas-le-bon-mot-de-passe")
    page.click("button[type=submit]")
    error = page.locator("#login-error")
    error.wait_for(state="visible")
    assert "incorrect" in error.inner_text().lower()
    assert page.locator("html").get_attribute("lang") == "fr"

    # The right password opens only the second step (enrolment the first time, else the code).
    logins.submit_password(page, ui_server.username, ui_server.password)
    assert logins.path_of(page) in ("/login/enrol", "/login/mfa"), page.url
    page.goto("/cameras")
    assert logins.path_of(page) in ("/login/enrol", "/login/mfa"), "pending session reached a page"
    assert page.request.get("/api/cameras").status == 401
    logins.second_factor(page, ui_server.base_url, ui_server.username)
    # An administrator lands on the camera list; the menu is the administrator's.
    assert logins.path_of(page) == "/cameras", page.url
    assert page.locator(".mainnav a.active").inner_text() == "Caméras"
    menu = page.eval_on_selector_all(".mainnav a", "as => as.map(a => a.textContent.trim())")
    assert menu == ["Mur d'images", "Caméras", "Relecture", "Réquisitions", "Plaques",
                    "Administration"], menu
    assert ui_server.username in page.locator(".username").inner_text()
    page.locator("button", has_text="Déconnexion").wait_for()
    logins.keep_state(page, ui_server.base_url, ui_server.username)


def test_live_wall_plays_every_camera(admin_page: Any, ui_server: Any) -> None:
    page = admin_page
    page.goto("/live")
    ids = sorted(str(i) for i in ui_server.camera_ids)
    page.wait_for_function(
        "n => document.querySelectorAll('#wall video[data-camera-id]').length >= n", arg=len(ids))
    shown = page.eval_on_selector_all("#wall video[data-camera-id]",
                                      "vs => vs.map(v => v.dataset.cameraId)")
    assert sorted(shown) == ids
    for attr in ("muted", "playsinline", "autoplay"):
        assert page.eval_on_selector_all(
            "#wall video", f"vs => vs.every(v => v.hasAttribute('{attr}'))"), attr
    # Every tile has decoded a frame, then its playhead keeps moving.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#wall video')].every(v => v.readyState >= 2)",
        timeout=15_000)
    start = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#wall video')]"
        ".map(v => [v.dataset.cameraId, v.currentTime]))")
    page.wait_for_function(
        "t0 => [...document.querySelectorAll('#wall video')]"
        ".every(v => v.currentTime > t0[v.dataset.cameraId] + 1.0)", arg=start, timeout=15_000)
    stats = page.evaluate("() => window.guetteurWall.stats()")
    for s in stats:
        assert s["latency_s"] is not None and s["latency_s"] < 2.5, s
    # A click on a tile opens that camera alone.
    first = page.locator("#wall .tile").first
    cam_id = first.get_attribute("data-camera-id")
    with page.expect_navigation():
        first.click()
    assert page.url.endswith(f"/live/{cam_id}")
    page.wait_for_function(
        "() => { const v = document.querySelector('#live-video'); return v.readyState >= 2 "
        "&& v.currentTime > 0.5; }")


def test_playback_click_on_timeline_plays_from_there(admin_page: Any, ui_server: Any) -> None:
    page = admin_page
    cam = ui_server.camera_ids[0]
    span = recorded_span(page, cam, min_s=12)
    target = span["start_utc_us"] + 8_000_000
    page.goto(f"/playback/{cam}")
    page.wait_for_function("() => window.guetteurPlayback && window.guetteurPlayback.currentUtcUs()"
                           " !== null && document.querySelector('#pb-video').readyState >= 2")
    # Zoom in (10 min, else 1 h around the current image) so that one pixel is under 3 s,
    # then click at the target.
    in_view = ("t => { const d = document.querySelector('#timeline').dataset;"
               " return +d.viewStartUs <= t && t <= +d.viewEndUs; }")
    for zoom in ("600", "3600"):
        page.click(f"[data-zoom='{zoom}']")
        if page.evaluate(f"({in_view})({target})"):
            break
    assert page.evaluate(f"({in_view})({target})"), "the target is not on the zoomed timeline"
    box = page.locator("#timeline").bounding_box()
    view = page.evaluate("() => ({...document.querySelector('#timeline').dataset})")
    frac = (target - int(view["viewStartUs"])) / (int(view["viewEndUs"]) - int(view["viewStartUs"]))
    page.mouse.click(box["x"] + frac * box["width"], box["y"] + box["height"] / 2)
    page.wait_for_function(
        "t => { const u = window.guetteurPlayback.currentUtcUs();"
        " return u !== null && Math.abs(u - t) < 3e6; }", arg=target, timeout=10_000)
    first = page.evaluate("() => window.guetteurPlayback.currentUtcUs()")
    assert abs(first - target) < 3_000_000
    # It plays from there: the wall-clock position advances, the clock shows Paris time.
    page.wait_for_function("u => window.guetteurPlayback.currentUtcUs() > u + 1e6", arg=first,
                           timeout=10_000)
    clock, now_us = page.evaluate("() => [document.querySelector('#pb-clock').textContent,"
                                  " window.guetteurPlayback.currentUtcUs()]")
    assert abs(seconds_of_day(clock[:8]) - seconds_of_day(paris_local(now_us)[11:19])) <= 2, (
        clock, paris_local(now_us))


def test_clip_download_is_h264_mp4(admin_page: Any, ui_server: Any, tmp_path: Path) -> None:
    if not shutil.which("ffprobe"):
        pytest.skip("ffprobe is not installed")
    page = admin_page
    cam = ui_server.camera_ids[0]
    span = recorded_span(page, cam, min_s=10)
    page.goto(f"/playback/{cam}")
    page.wait_for_function("() => window.guetteurPlayback && window.guetteurPlayback.timeline()")
    start = span["start_utc_us"] + 2_000_000
    page.fill("#clip-from", paris_local(start))
    page.fill("#clip-to", paris_local(start + 6_000_000))
    link = page.locator("#clip-download")
    page.wait_for_function("() => document.querySelector('#clip-download')"
                           ".getAttribute('aria-disabled') === 'false'")
    assert link.inner_text() == "Télécharger l'extrait (MP4)"
    with page.expect_download(timeout=20_000) as info:
        link.click()
    download = info.value
    target = tmp_path / "extrait.mp4"
    download.save_as(target)
    assert download.suggested_filename.endswith(".mp4")
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(target)],
        capture_output=True, text=True, timeout=20, check=True)
    info_json = json.loads(probe.stdout)
    video = [s for s in info_json["streams"] if s["codec_type"] == "video"]
    assert video and video[0]["codec_name"] == "h264", info_json
    assert float(info_json["format"]["duration"]) > 1.0, info_json["format"]


def test_unauthenticated_page_redirects_to_login(page: Any, ui_server: Any) -> None:
    cam = ui_server.camera_ids[0]
    page.goto(f"/playback/{cam}")
    assert "/login" in page.url
    assert "next=" in page.url
    page.locator("#username").wait_for()
    resp = page.request.get("/api/cameras")
    assert resp.status == 401
    # After logging in (both steps), the user lands on the page first asked for.
    page.fill("#username", ui_server.username)
    page.fill("#password", ui_server.password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "next=" in page.url, page.url
    logins.second_factor(page, ui_server.base_url, ui_server.username)
    assert page.url.endswith(f"/playback/{cam}")
