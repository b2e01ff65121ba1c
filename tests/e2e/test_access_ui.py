"""End-to-end tests of « who sees what » in the browser (headless Chromium, real server).

- An operator granted live and playback on camera 1 only enrols its second factor, logs out,
  logs in again with a code of a later 30-s step, and sees camera 1 and nothing else: on the
  wall, in the camera list, in the API; /live/{camera 2} answers the French 403 page.
- A landlord (no second factor: it never sees images) lands on its portal, sees the health of
  its partner's camera in Paris time, and no page it can reach loads any media: every request
  and WebSocket of its browser is recorded and checked.
- An administrator creates an account and a grant on the administration page (the one-time
  password is shown once), then an auditor created the same way finds the operator's live view
  in the access register and verifies the chain.

The `ui_server` fixture (tests/e2e/conftest.py) gives `.operator` and `.landlord` as
(username, password); their TOTP secrets are learnt by enrolling through the page
(tests/e2e/logins.py). Each test stays under ~40 s.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import logins
import pytest

PARIS = ZoneInfo("Europe/Paris")
# Addresses that carry pixels: the live WebSocket, HLS playlists, segment bytes, clips.
MEDIA_URL = re.compile(r"/api/segments/|/live\b|\.m3u8|/clip\.mp4|/api/cameras/\d+/at\b")
MEDIA_ELEMENTS = "video, audio, source, track, img, picture, canvas, iframe, object, embed"

pytestmark = pytest.mark.e2e  # Chromium and Playwright are installed by scripts/setup


class Browsing:
    """Browser contexts opened by a test, closed at its end."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[Any] = []

    def page(self, state: Any = None) -> Any:
        context = self.browser.new_context(
            base_url=self.base_url, viewport={"width": 1440, "height": 900}, locale="fr-FR",
            timezone_id="Europe/Paris", storage_state=state)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        return context.new_page()

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(browser: Any, ui_server: Any) -> Iterator[Browsing]:
    b = Browsing(browser, ui_server.base_url)
    try:
        yield b
    finally:
        b.close()


def paris_hms(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).astimezone(PARIS).strftime("%H:%M:%S")


def seconds_of_day(hms: str) -> int:
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s


def wall_ids(page: Any) -> list[str]:
    return sorted(page.eval_on_selector_all("#wall video[data-camera-id]",
                                            "vs => vs.map(v => v.dataset.cameraId)"))


def test_operator_enrols_second_factor_and_sees_only_its_camera(
        browsing: Browsing, ui_server: Any) -> None:
    base = ui_server.base_url
    name, password = ui_server.operator
    mine, other = (str(i) for i in ui_server.camera_ids[:2])
    page = browsing.page()

    # First login: the password opens only the enrolment page (QR code + secret).
    logins.submit_password(page, name, password)
    assert logins.path_of(page) == "/login/enrol", page.url
    assert page.locator("#totp-qr").get_attribute("src").startswith("data:image/svg+xml")
    assert re.fullmatch(r"[A-Z2-7]{16,}", page.locator("#totp-secret").inner_text().strip())
    page.goto("/live")
    assert logins.path_of(page) == "/login/enrol", "a pending session reached the wall"
    assert logins.second_factor(page, base, name) == "enrol"
    enrol_step = logins.last_step(base, name)
    assert logins.path_of(page) == "/live", page.url

    # The wall shows camera 1 only, and it plays.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#wall video')].some(v => v.readyState >= 2)")
    page.wait_for_timeout(500)
    assert wall_ids(page) == [mine]
    menu = page.eval_on_selector_all(".mainnav a", "as => as.map(a => a.textContent.trim())")
    assert menu == ["Mur d'images", "Caméras", "Relecture"], menu

    # The camera list, and the API behind it: camera 1, what it may do there, no stream address.
    page.goto("/cameras")
    page.wait_for_selector("#cameras-body tr")
    rows = page.eval_on_selector_all("#cameras-body tr", "rs => rs.map(r => r.dataset.cameraId)")
    assert rows == [mine]
    actions = page.eval_on_selector_all("#cameras-body a[data-action]",
                                        "as => as.map(a => a.dataset.action)")
    assert actions == ["live", "playback"], actions
    cams = page.request.get("/api/cameras").json()
    assert [str(c["id"]) for c in cams] == [mine]
    assert cams[0]["can"] == ["live", "playback"]
    assert "main_url" not in cams[0] and "sub_url" not in cams[0]

    # Camera 2: the page answers the French 403 page, its WebSocket never opens.
    response = page.goto(f"/live/{other}")
    assert response is not None and response.status == 403
    assert page.locator("h1").inner_text() == "Accès refusé"
    assert "n'avez pas le droit" in page.locator("#error-message").inner_text()
    ws = page.evaluate(
        "id => new Promise(done => { const ws = new WebSocket(`ws://${location.host}"
        "/api/cameras/${id}/live?stream=sub`); ws.binaryType = 'arraybuffer';"
        " ws.onmessage = () => { done('data'); ws.close(); };"
        " ws.onclose = (e) => done('closed ' + e.code);"
        " setTimeout(() => done('timeout'), 8000); })",
        other)
    assert ws.startswith("closed"), ws

    # A state-changing request without the CSRF token is refused; the logout form has it.
    assert page.request.post("/logout", form={"x": "1"}).status == 403
    assert page.request.get("/api/cameras").status == 200
    with page.expect_navigation():
        page.click(".logout-form button[type=submit]")
    assert logins.path_of(page) == "/login"
    assert page.request.get("/api/cameras").status == 401

    # Second login: the code page (no new secret), with a code of a later 30-s step.
    logins.submit_password(page, name, password)
    assert logins.path_of(page) == "/login/mfa", page.url
    assert page.locator("#totp-secret").count() == 0
    page.fill("#code", logins.next_code(base, name, after_step=enrol_step))
    with page.expect_navigation():
        page.click("#mfa-form button[type=submit]")
    assert logins.path_of(page) == "/live", page.locator("#login-error").all_inner_texts()
    page.wait_for_selector("#wall video[data-camera-id]")
    assert wall_ids(page) == [mine]
    logins.keep_state(page, base, name)


def test_landlord_sees_its_camera_health_and_never_media(
        browsing: Browsing, ui_server: Any) -> None:
    name, password = ui_server.landlord
    theirs = str(ui_server.camera_ids[1])
    page = browsing.page()
    requests: list[str] = []
    sockets: list[str] = []
    page.context.on("request", lambda r: requests.append(r.url))
    page.on("websocket", lambda ws: sockets.append(ws.url))

    # No second factor for an account that never sees images; it lands on its portal.
    assert logins.login(page, ui_server.base_url, name, password) == ""
    assert logins.path_of(page) == "/portal", page.url
    page.wait_for_selector("#portal-body tr")
    rows = page.eval_on_selector_all("#portal-body tr", "rs => rs.map(r => r.dataset.cameraId)")
    assert rows == [theirs]
    row = page.locator(f"#portal-body tr[data-camera-id='{theirs}']")
    assert row.locator(".badge").inner_text() in (
        "Enregistrement", "Reconnexion", "Démarrage", "Désactivée", "Arrêtée")
    assert row.locator(".badge").get_attribute("data-state") == "recording"
    # The last segment, in Paris time: a few seconds ago (the camera is recording).
    cells = row.locator("td").all_inner_texts()
    last = re.search(r"\d{2}:\d{2}:\d{2}", cells[4])
    assert last, cells
    now_paris = paris_hms(int(time.time() * 1e6))
    assert abs(seconds_of_day(last.group()) - seconds_of_day(now_paris)) < 90, (cells, now_paris)
    assert re.search(r"\d{2}:\d{2}:\d{2}", cells[3]), cells  # in this state since

    # Its API: its partner's camera only, nothing it could open, no stream address.
    cams = page.request.get("/api/cameras").json()
    assert [str(c["id"]) for c in cams] == [theirs]
    assert cams[0]["can"] == []
    assert not {"main_url", "sub_url"} & set(cams[0])

    # Every page of its menu, and a refresh of the portal (every 10 s): no media element,
    # no media request, no WebSocket.
    menu = page.eval_on_selector_all(".mainnav a", "as => as.map(a => a.getAttribute('href'))")
    assert menu == ["/portal"], menu
    for href in menu:
        page.goto(href)
        page.wait_for_selector("#portal-body tr")
        assert page.locator(MEDIA_ELEMENTS).count() == 0, href
    with page.expect_request(lambda r: r.url.endswith("/api/cameras"), timeout=15_000):
        pass  # the portal's own refresh
    page.wait_for_timeout(300)
    assert page.locator(MEDIA_ELEMENTS).count() == 0
    assert not [u for u in requests if MEDIA_URL.search(u)], requests
    assert not sockets, sockets

    # Image pages and media routes answer 403 (after the recording above: these are probes).
    for path in ("/live", f"/live/{theirs}", f"/playback/{theirs}", "/playback"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        assert page.locator("h1").inner_text() == "Accès refusé"
        assert page.locator("video").count() == 0
    page.goto("/cameras")
    assert logins.path_of(page) == "/portal"
    now_us = int(time.time() * 1e6)
    playlist = page.request.get(f"/api/cameras/{theirs}/playback.m3u8"
                                f"?from={now_us - 60_000_000}&to={now_us}")
    assert playlist.status == 403
    assert page.request.get("/api/segments/1/media").status == 403
    assert page.request.get("/admin").status == 403
    assert page.request.get("/api/audit").status == 403


def test_admin_creates_account_and_grant_auditor_sees_operator_live_view(
        browsing: Browsing, browser: Any, ui_server: Any) -> None:
    base = ui_server.base_url
    op_name, op_password = ui_server.operator
    cam = ui_server.camera_ids[0]
    suffix = str(int(time.time() * 1000))[-6:]

    # The operator watches camera 1 live: an audited view.
    started_us = int(time.time() * 1e6)
    operator = browsing.page(logins.storage_state(browser, base, op_name, op_password))
    operator.goto(f"/live/{cam}")
    operator.wait_for_function(
        "() => { const v = document.querySelector('#live-video'); return v.readyState >= 2; }")
    operator.close()  # the view is audited when it opens; no reconnection later adds events

    # The administrator creates an operator account: its password is shown once.
    admin = browsing.page(logins.storage_state(browser, base, ui_server.username,
                                               ui_server.password))
    admin.goto("/admin")
    admin.wait_for_selector(f"#users-body tr[data-username='{op_name}']")
    admin.fill("#new-username", op_name)
    admin.click("#create-submit")
    admin.wait_for_function("() => document.querySelector('#create-msg').textContent !== ''")
    assert "existe déjà" in admin.inner_text("#create-msg")
    assert admin.locator("#onetime").is_hidden()
    agent = f"agent.{suffix}"
    admin.fill("#new-username", agent)
    admin.fill("#new-fullname", "Agent de test")
    admin.select_option("#new-role", "operator")
    admin.click("#create-submit")
    admin.wait_for_selector("#onetime", state="visible")
    assert admin.inner_text("#onetime-user") == agent
    assert len(admin.inner_text("#onetime-password").strip()) >= 12
    # the list reloads after the creation: wait for the new row rather than count at once
    admin.wait_for_selector(f"#users-body tr[data-username='{agent}']")
    assert admin.locator(f"#users-body tr[data-username='{agent}']").count() == 1
    # ... and gives it live on camera 1, until a date: the grant is listed, then revoked.
    admin.wait_for_selector("#user-detail", state="visible")
    assert agent in admin.inner_text("#detail-title")
    assert admin.eval_on_selector_all("#grant-action option", "os => os.map(o => o.value)") \
        == ["live", "playback", "ptz"]
    admin.select_option("#grant-action", "live")
    admin.select_option("#grant-scope", "cameras")
    admin.check(f"#grant-camera-list input[value='{cam}']")
    admin.fill("#grant-until", "2099-12-31T18:00")
    admin.click("#grant-submit")
    row = admin.locator("#grants-body tr[data-status='active']")
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == "Direct" and "CAM-01" in cells[2] and "31/12/2099 18:00:00" in cells[3]
    details = [u for u in admin.request.get("/api/users").json() if u["username"] == agent]
    grants = admin.request.get(f"/api/users/{details[0]['id']}").json()["grants"]
    assert [(g["action"], g["scope_kind"], g["scope_value"]) for g in grants] == [
        ("live", "cameras", str(cam))]
    revoke = row.locator("button[data-action='revoke']")
    revoke.click()
    revoke.click()  # second click confirms
    admin.wait_for_selector("#grants-body tr[data-status='revoked']")
    assert admin.locator("#grants-body tr.row-revoked").count() == 1
    # An API refusal is shown in French next to the form.
    admin.select_option("#grant-scope", "all")
    admin.fill("#grant-from", "2099-12-31T18:00")
    admin.fill("#grant-until", "2099-01-01T00:00")
    admin.click("#grant-submit")
    admin.wait_for_function("() => document.querySelector('#grant-msg').dataset.level === 'error'")
    assert "doit suivre son début" in admin.inner_text("#grant-msg")

    # An auditor account, created the same way, logs in with its one-time password.
    admin.click("#onetime-close")
    auditor_name = f"audit.{suffix}"
    admin.fill("#new-username", auditor_name)
    admin.select_option("#new-role", "auditor")
    admin.click("#create-submit")
    admin.wait_for_selector("#onetime", state="visible")
    auditor_password = admin.inner_text("#onetime-password").strip()
    auditor = browsing.page()
    assert logins.login(auditor, base, auditor_name, auditor_password) == ""
    assert logins.path_of(auditor) == "/audit", auditor.url

    # The register shows the operator's live view of camera 1, in Paris time.
    auditor.wait_for_selector("#audit-body tr, #audit-empty:not([hidden])")
    auditor.fill("#f-user", op_name)
    assert auditor.is_checked("#f-views")
    auditor.click("#audit-filters button[type=submit]")
    # the unfiltered first page may still be shown: wait for the filtered one to replace it
    auditor.wait_for_function(
        "name => { const tds = [...document.querySelectorAll('#audit-body tr td:nth-child(2)')];"
        " return tds.length > 0 && tds.every((td) => td.textContent === name); }", arg=op_name)
    live = auditor.locator("#audit-body tr[data-action='live']").first
    live.wait_for()
    cells = live.locator("td").all_inner_texts()
    assert cells[1] == op_name and cells[2] == "Consultation en direct", cells
    assert cells[3] == "CAM-01", cells
    users = set(auditor.eval_on_selector_all("#audit-body tr td:nth-child(2)",
                                             "tds => tds.map(td => td.textContent)"))
    assert users == {op_name}, users
    shown_id = int(live.get_attribute("data-event-id"))
    found = auditor.request.get(f"/api/audit?username={op_name}&views_only=true&limit=50")
    [event] = [e for e in found.json()["events"] if e["id"] == shown_id]
    assert event["action"] == "live" and event["camera_id"] == cam
    assert event["at_utc_us"] >= started_us - 1_000_000, "not the view of this test"
    assert cells[0].endswith(paris_hms(event["at_utc_us"])), (cells[0], event)
    # The chain verifies; the CSV register link follows the period.
    auditor.click("#verify-btn")
    auditor.wait_for_function("() => document.querySelector('#verify-result').dataset.ok")
    assert auditor.get_attribute("#verify-result", "data-ok") == "true"
    assert "Journal intègre" in auditor.inner_text("#verify-result")
    # and says how old the newest signed checkpoint is (events since are not yet anchored)
    assert "Dernier point de contrôle : n° " in auditor.inner_text("#verify-anchor")
    auditor.fill("#f-from", "2020-01-01T00:00")
    auditor.dispatch_event("#f-from", "change")
    assert auditor.get_attribute("#csv-link", "href") == "/api/audit.csv?from=2020-01-01T00%3A00"


def test_admin_unlocks_a_throttled_account_from_the_administration_page(
        browsing: Browsing, browser: Any, ui_server: Any) -> None:
    """Five wrong passwords from one address throttle that name there; the administrator sees
    it on the administration page, clicks « Déverrouiller »: the account logs in from that
    address again, and the unlock is in the audit trail."""
    import sqlite3

    import httpx

    server = ui_server.server
    name, password = f"verrou{str(int(time.time() * 1000))[-6:]}", "verrou-password-42"
    res = server.cli("user", "add", name, "--role", "auditor", stdin=password + "\n")
    assert res.returncode == 0, res.stderr
    with httpx.Client(base_url=ui_server.base_url, timeout=10) as client:
        for _ in range(5):
            r = client.post("/login", data={"username": name, "password": "pas-le-bon-42"})
            assert r.status_code == 401
        r = client.post("/login", data={"username": name, "password": password})
        assert r.status_code == 401  # throttled here: the same answer as a wrong password

        admin = browsing.page(logins.storage_state(browser, ui_server.base_url,
                                                   ui_server.username, ui_server.password))
        admin.goto("/admin")
        row = admin.locator(f"#users-body tr[data-username='{name}']")
        row.wait_for()
        assert "Ralenti jusqu'à" in row.inner_text()
        row.locator("button[data-action='unlock']").click()
        admin.wait_for_function(
            "() => document.querySelector('#users-msg').textContent.includes('déverrouillé')")
        # the message comes before the list is reloaded: wait for the reloaded row
        admin.wait_for_function(
            """name => {
                 const r = document.querySelector(`#users-body tr[data-username='${name}']`);
                 return r && !r.textContent.includes('Ralenti'); }""", arg=name)
        row = admin.locator(f"#users-body tr[data-username='{name}']")
        assert "Ralenti" not in row.inner_text()
        assert row.locator("button[data-action='unlock']").count() == 0

        r = client.post("/login", data={"username": name, "password": password})
        assert r.status_code == 303
    con = sqlite3.connect(server.data_dir / "guetteur.db")
    try:
        rows = con.execute("SELECT username, detail FROM audit_event WHERE action = "
                           "'user_unlock'").fetchall()
    finally:
        con.close()
    assert [(u, json.loads(d)["user"]) for u, d in rows] == [(ui_server.username, name)]
