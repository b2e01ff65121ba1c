"""End-to-end tests of judicial cases, holds, evidence exports and the register in the browser
(headless Chromium against a real server recording simulated cameras).

- An investigator (OPJ) records a requisition on « Réquisitions », opens it, freezes camera 1
  over the last minutes, extracts 10 s of it, follows the progress bar to « terminée »,
  downloads the package, and the package verifies (signature, files) against the key
  fingerprint shown on the Réquisitions page; its manifest names the case.
- The hold shows on the playback timeline as its own band; a release takes two people: the
  investigator asks (a motive is required), the supervisor approves, and the band is gone. An
  export awaiting approval offers « Approuver » to the supervisor (and the server's refusal is
  shown).
- The supervisor (granted the audit trail) reads the register: case, hold, export entries,
  filtered by kind, with CSV and printable links carrying the filters.
- A landlord reaches neither the cases nor the register, and learns nothing of them.

Screenshots go to $GUETTEUR_SCREENSHOTS (default: <tmp>/guetteur-screenshots) for a person to
look at. Accounts come from tests/e2e/conftest.py (`ui_server.investigator`, `.supervisor`,
`.landlord`); second factors are enrolled through the pages (tests/e2e/logins.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import logins
import pytest

from guetteur.adapters.evidence.verifier_preuve import verify

PARIS = ZoneInfo("Europe/Paris")
SHOTS = Path(os.environ.get("GUETTEUR_SCREENSHOTS",
                            Path(tempfile.gettempdir()) / "guetteur-screenshots"))

pytestmark = pytest.mark.e2e  # Chromium and Playwright are installed by scripts/setup


class Browsing:
    """Browser contexts opened by a test, closed at its end."""

    def __init__(self, browser: Any, ui_server: Any) -> None:
        self.browser = browser
        self.ui = ui_server
        self.contexts: list[Any] = []

    def page(self, account: tuple[str, str] | None = None) -> Any:
        state = None
        if account is not None:
            state = logins.storage_state(self.browser, self.ui.base_url, *account)
        context = self.browser.new_context(
            base_url=self.ui.base_url, viewport={"width": 1440, "height": 900}, locale="fr-FR",
            timezone_id="Europe/Paris", storage_state=state, accept_downloads=True)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        return context.new_page()

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(browser: Any, ui_server: Any) -> Iterator[Browsing]:
    b = Browsing(browser, ui_server)
    try:
        yield b
    finally:
        b.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky header lands mid-page
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def now_us() -> int:
    return int(time.time() * 1_000_000)


def paris_local(us: int) -> str:
    """A datetime-local value (Paris time, seconds) for UTC microseconds."""
    return datetime.fromtimestamp(us / 1e6, UTC).astimezone(PARIS).strftime("%Y-%m-%dT%H:%M:%S")


def unique_ref(prefix: str) -> str:
    return f"{prefix} 2026/{int(time.time() * 1000) % 10_000_000:07d}"


def recorded_span(page: Any, camera_id: int, min_s: float) -> dict[str, int]:
    """The latest recorded span of camera_id at least `min_s` long, waiting for one."""
    deadline = time.monotonic() + 40
    while True:
        now = now_us()
        resp = page.request.get(f"/api/cameras/{camera_id}/timeline"
                                f"?from={now - 3_600_000_000}&to={now + 60_000_000}")
        assert resp.ok, resp.text()
        spans = resp.json()["spans"]
        long_enough = [s for s in spans if (s["end_utc_us"] - s["start_utc_us"]) / 1e6 >= min_s]
        if long_enough:
            return max(long_enough, key=lambda s: s["start_utc_us"])
        if time.monotonic() > deadline:
            raise AssertionError(f"camera {camera_id}: no recorded span of {min_s} s: {spans}")
        time.sleep(1)


def api_post(page: Any, url: str, body: dict[str, Any] | None = None) -> Any:
    """A state-changing API call from the page's session (CSRF token from the page)."""
    token = page.locator("meta[name='csrf-token']").get_attribute("content")
    resp = page.request.post(url, data=body or {}, headers={"X-CSRF-Token": token})
    assert resp.ok, (url, resp.status, resp.text())
    return resp.json()


def case_with_hold(page: Any, prefix: str, camera_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A case and a hold on the last five minutes of a camera, through the API."""
    page.goto("/cases")
    now = now_us()
    case = api_post(page, "/api/cases", {
        "reference": unique_ref(prefix), "service": "Commissariat de secteur Nord",
        "officer": "Brigadier-chef Leroy", "requisition_date": paris_local(now)[:10],
        "legal_basis": "art. 60-1 CPP (flagrance)", "description": "Essai de bout en bout"})
    [hold] = api_post(page, f"/api/cases/{case['id']}/holds", {
        "camera_ids": [camera_id], "from": paris_local(now - 300_000_000), "to": paris_local(now)})
    return case, hold


def test_investigator_records_a_case_freezes_and_exports_a_verified_package(
        browsing: Browsing, ui_server: Any, tmp_path: Path) -> None:
    cam = ui_server.camera_ids[0]
    page = browsing.page(ui_server.investigator)

    # « Réquisitions » is in the investigator's menu; the key box shows the fingerprint.
    page.goto("/cases")
    menu = page.eval_on_selector_all(".mainnav a", "as => as.map(a => a.textContent.trim())")
    assert menu == ["Caméras", "Relecture", "Réquisitions", "Plaques"], menu
    page.wait_for_function("() => document.querySelector('#key-fingerprint').dataset.fingerprint")
    fingerprint = page.get_attribute("#key-fingerprint", "data-fingerprint")
    assert re.fullmatch(r"[0-9a-f]{4}(:[0-9a-f]{4}){15}", fingerprint or ""), fingerprint
    assert "BEGIN PUBLIC KEY" in page.locator("#key-pem").text_content()
    assert page.get_attribute("#key-download", "href").startswith("blob:")

    # A new requisition, with a legal basis typed in (« Autre »).
    ref = unique_ref("PV")
    page.click("#case-create summary")
    page.fill("#c-reference", ref)
    page.fill("#c-service", "Commissariat central – Sûreté départementale")
    page.fill("#c-officer", "Lieutenant Martin")
    page.select_option("#c-basis", "autre")
    assert page.is_visible("#c-basis-other")
    page.click("#case-submit")  # the typed basis is still empty: refused in the page
    assert "Précisez le fondement" in page.inner_text("#case-form-msg")
    page.fill("#c-basis-other", "art. 77-1-1 CPP – réquisition du procureur")
    page.fill("#c-description", "Vol à l'arraché devant la mairie")
    shot(page, "cases-new-form")
    with page.expect_navigation():
        page.click("#case-submit")
    assert re.fullmatch(r"/cases/\d+", logins.path_of(page)), page.url
    case_id = int(logins.path_of(page).rsplit("/", 1)[1])
    page.wait_for_function("() => document.querySelector('#d-service').textContent !== '…'")
    assert page.inner_text("#case-reference") == ref
    assert page.inner_text("#d-basis") == "art. 77-1-1 CPP – réquisition du procureur"
    assert page.inner_text("#d-officer") == "Lieutenant Martin"

    # Freeze camera 1 over the last five minutes.
    page.wait_for_selector(f"#hold-cam-{cam}")
    page.check(f"#hold-cam-{cam}")
    now = now_us()
    page.fill("#hold-from", paris_local(now - 300_000_000))
    page.fill("#hold-to", paris_local(now))
    page.click("#hold-submit")
    held = page.locator(f"#holds-body tr[data-camera-id='{cam}'][data-state='active']")
    held.wait_for()
    cells = held.locator("td").all_inner_texts()
    assert cells[0] == "CAM-01" and "Actif" in cells[3], cells
    assert paris_local(now - 300_000_000)[11:] in cells[1], cells  # Paris time, to the second
    assert page.locator("#hold-msg").get_attribute("data-level") == "ok"

    # An export of 10 s that the server has recorded; an API refusal shows in French.
    span = recorded_span(page, cam, 12)
    end = span["end_utc_us"] - 1_000_000
    page.check(f"#export-cam-{cam}")
    page.fill("#export-from", paris_local(end))
    page.fill("#export-to", paris_local(end - 10_000_000))
    page.click("#export-submit")
    page.wait_for_function("() => document.querySelector('#export-msg').dataset.level === 'warn'")
    assert "après son début" in page.inner_text("#export-msg")
    page.fill("#export-from", paris_local(now + 3_600_000_000))
    page.fill("#export-to", paris_local(now + 3_700_000_000))
    page.click("#export-submit")
    page.wait_for_function("() => document.querySelector('#export-msg').dataset.level === 'error'")
    assert "futur" in page.inner_text("#export-msg")
    # 10 s of footage export in well under a second: the first answers of the job's polling are
    # shown as « running » at 40 % (what a long export looks like), then the real ones pass.
    polls: list[int] = []

    def first_polls_running(route: Any) -> None:
        real = route.fetch()
        job = real.json()
        polls.append(job["id"])
        if len(polls) <= 3:
            job.update(state="running", progress=0.4, bytes_done=int(job["bytes_total"] * 0.4),
                       eta_s=12.4, download_url=None)
        route.fulfill(response=real, json=job)

    page.route(re.compile(r"/api/exports/\d+$"), first_polls_running)
    page.fill("#export-from", paris_local(end - 10_000_000))
    page.fill("#export-to", paris_local(end))
    page.click("#export-submit")
    card = page.locator(".export[data-export-id]").first
    card.locator("progress").wait_for()
    # (the answer to the request itself may already say « running » at 0 %)
    page.wait_for_function("() => document.querySelector('.export progress').value === 40")
    assert card.get_attribute("data-state") == "running"
    assert card.locator(".export-state").inner_text() == "en cours"
    assert re.fullmatch(r"40\s%", card.locator(".export-pct").inner_text())
    assert card.locator(".export-eta").inner_text() == "environ 12 s restantes"
    assert "lus sur" in card.locator(".export-bytes").inner_text()
    assert card.locator("[data-action='cancel-export']").count() == 1
    assert card.locator("a.export-download").count() == 0
    shot(page, "case-export-running")
    page.wait_for_selector(".export[data-state='done']", timeout=90_000)
    page.unroute(re.compile(r"/api/exports/\d+$"))
    assert card.locator(".export-state").inner_text() == "terminée"
    assert card.locator("progress").evaluate("p => p.value") == 100
    pct = card.locator(".export-pct").inner_text()
    assert re.fullmatch(r"100\s%", pct), pct
    assert "CAM-01" in card.locator(".export-what").inner_text()
    sha_shown = card.locator(".export-sha").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", sha_shown), sha_shown
    assert re.search(r"\d+(,\d)? [kMG]?o", card.locator(".export-size").inner_text())
    assert card.locator("[data-action='cancel-export']").count() == 0
    shot(page, "case-export-done")

    # A refused download (here: the file is gone) is said on the card, in French.
    gone = {"error": "NotFound",
            "message": "Le fichier de cette extraction n'existe plus sur le serveur."}
    page.route("**/api/exports/*/download",
               lambda route: route.fulfill(status=404, json=gone))
    card.locator("a.export-download").click()
    page.wait_for_function("() => document.querySelector('.export .export-error').textContent")
    assert card.locator(".export-error").inner_text() == (
        "Téléchargement impossible : Le fichier de cette extraction n'existe plus sur le serveur.")
    page.unroute("**/api/exports/*/download")

    # The package: downloaded, signed by the key the page shows, naming the case.
    with page.expect_download() as download:
        card.locator("a.export-download").click()
    package = tmp_path / download.value.suggested_filename
    download.value.save_as(package)
    assert package.suffix == ".zip"
    with zipfile.ZipFile(package) as z:
        manifest_bytes = z.read("manifest.json")
        names = z.namelist()
    manifest = json.loads(manifest_bytes)
    assert manifest["case"]["reference"] == ref
    assert manifest["case"]["legal_basis"] == "art. 77-1-1 CPP – réquisition du procureur"
    assert [c["name"] for c in manifest["cameras"]] == ["CAM-01"]
    assert manifest["exported_by"]["username"] == ui_server.investigator[0]
    assert hashlib.sha256(manifest_bytes).hexdigest() == sha_shown
    assert any(n.endswith(".mp4") for n in names), names
    report = verify(package, expected_fingerprint=fingerprint)
    assert report.ok and report.fingerprint_matches, report.lines()

    # The list shows the case, open.
    page.goto("/cases")
    row = page.locator(f"#cases-body tr[data-case-id='{case_id}']")
    row.wait_for()
    assert row.locator("a").inner_text() == ref
    assert "Ouverte" in row.inner_text()
    shot(page, "cases")


def test_hold_band_on_the_timeline_and_a_release_takes_two_people(
        browsing: Browsing, ui_server: Any) -> None:
    cam = ui_server.camera_ids[0]
    investigator = browsing.page(ui_server.investigator)
    case, hold = case_with_hold(investigator, "PV-GEL", cam)
    ref = case["reference"]

    # Playback: the investigator gives the case reference, the hold is a band of its own.
    investigator.goto(f"/playback/{cam}")
    assert investigator.get_attribute("#pb-cases-link", "href") == "/cases"
    investigator.fill("#case-ref", ref)
    investigator.click("#case-submit")
    band = investigator.locator(f"#tl-track .tl-hold[data-hold-id='{hold['id']}']")
    band.wait_for()
    assert ref in band.get_attribute("title")
    assert "Gel judiciaire" in investigator.inner_text(".legend")
    assert band.bounding_box()["width"] >= 2
    investigator.click("[data-zoom='3600']")  # the last hour: the band is wide
    investigator.wait_for_timeout(300)
    shot(investigator, "playback-hold-band")

    # The investigator asks for the release: a motive is required; it cannot approve it.
    investigator.goto(f"/cases/{case['id']}")
    row = investigator.locator(f"#holds-body tr[data-hold-id='{hold['id']}']")
    row.locator("[data-action='ask-release']").click()
    row.locator("button[type=submit]").click()
    assert "motif" in investigator.inner_text("#holds-action-msg").lower()
    row.locator("input.release-reason").fill("Affaire classée, avis du parquet")
    row.locator("button[type=submit]").click()
    investigator.locator(f"#holds-body tr[data-hold-id='{hold['id']}']"
                         "[data-state='release_requested']").wait_for()
    assert "Levée demandée par enqueteur" in row.inner_text()
    assert row.locator("[data-action='approve-release']").count() == 0
    assert row.locator("[data-action='cancel-release']").count() == 1

    # The supervisor approves (a second click confirms): the hold is released. (Its case page
    # also gets an export awaiting approval, added to the server's answer: the server here
    # runs without export approval, so the refusal of the approval shows too.)
    supervisor = browsing.page(ui_server.supervisor)
    now = now_us()
    waiting = {"id": 99999, "case_id": case["id"], "case_reference": ref, "camera_ids": [cam],
               "start_utc_us": now - 60_000_000, "end_utc_us": now, "requested_by": "enqueteur",
               "requested_utc_us": now, "state": "awaiting_approval", "approved_by": None,
               "bytes_total": 1_000_000, "bytes_done": 0, "started_utc_us": None,
               "finished_utc_us": None, "error": None, "package_name": None,
               "package_size": None, "manifest_sha256": None, "progress": 0, "eta_s": None,
               "download_url": None}

    def with_waiting_export(route: Any) -> None:
        real = route.fetch()
        route.fulfill(response=real, json=real.json() | {"exports": [waiting]})

    supervisor.route(f"**/api/cases/{case['id']}", with_waiting_export)
    supervisor.goto(f"/cases/{case['id']}")
    waiting_card = supervisor.locator(".export[data-export-id='99999']")
    waiting_card.wait_for()
    assert waiting_card.locator(".export-state").inner_text() == "en attente d’approbation"
    assert waiting_card.locator("progress").is_hidden()
    approve_export = waiting_card.locator("[data-action='approve-export']")
    approve_export.click()
    approve_export.click()
    supervisor.wait_for_function(
        "() => document.querySelector('#exports-action-msg').dataset.level === 'error'")
    assert "Extraction 99999 inconnue" in supervisor.inner_text("#exports-action-msg")
    srow = supervisor.locator(f"#holds-body tr[data-hold-id='{hold['id']}']")
    approve = srow.locator("[data-action='approve-release']")
    approve.click()
    assert "Confirmer" in approve.inner_text()
    approve.click()
    supervisor.locator(f"#holds-body tr[data-hold-id='{hold['id']}'][data-state='released']"
                       ).wait_for()
    assert "Levé par superviseur" in srow.inner_text()
    shot(supervisor, "case-hold-released")
    now = now_us()
    timeline = supervisor.request.get(f"/api/cameras/{cam}/timeline"
                                      f"?from={now - 3_600_000_000}&to={now}").json()
    assert hold["id"] not in [h["id"] for h in timeline["holds"]]


def test_supervisor_reads_the_register(browsing: Browsing, ui_server: Any) -> None:
    page = browsing.page(ui_server.supervisor)
    case, _hold = case_with_hold(page, "PV-REG", ui_server.camera_ids[1])
    ref = case["reference"]
    page.goto("/register")
    menu = page.eval_on_selector_all(".mainnav a", "as => as.map(a => a.textContent.trim())")
    assert "Registre" in menu and "Réquisitions" in menu, menu
    page.wait_for_selector("#register-body tr")
    rows = page.eval_on_selector_all("#register-body tr", """rs => rs.map(r => ({
        kind: r.dataset.kind, cells: [...r.cells].map(c => c.innerText.trim())}))""")
    mine = [r for r in rows if r["cells"][6] == ref]
    assert [r["kind"] for r in mine] == ["hold_place", "case_create"], mine  # newest first
    cells = mine[0]["cells"]
    assert cells[2] == "Gel judiciaire posé" and cells[3] == "superviseur", cells
    assert cells[4] == "CAM-02" and "→" in cells[5], cells
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}", cells[1]), cells
    shot(page, "register")

    # Filtered on holds: hold entries only; the links carry the filter.
    page.select_option("#r-kind", "group:holds")
    page.wait_for_function("() => [...document.querySelectorAll('#register-body tr')]"
                           ".every(r => r.dataset.group === 'holds')")
    csv_href = page.get_attribute("#register-csv", "href")
    assert csv_href.startswith("/api/register.csv?kind=hold_place&kind=hold_release_request")
    print_href = page.get_attribute("#register-print", "href")
    assert print_href.startswith("/register/print?kind=hold_place")
    printable = page.request.get(print_href)
    assert printable.ok and ref in printable.text()
    csv = page.request.get(csv_href)
    assert csv.ok and ref in csv.text() and "case_create" not in csv.text()


def test_a_landlord_reaches_neither_cases_nor_register(browsing: Browsing,
                                                       ui_server: Any) -> None:
    page = browsing.page(ui_server.landlord)
    page.goto("/portal")
    menu = page.eval_on_selector_all(".mainnav a", "as => as.map(a => a.getAttribute('href'))")
    assert menu == ["/portal"], menu
    for path in ("/cases", "/cases/1", "/register"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        assert page.locator("h1").inner_text() == "Accès refusé"
        assert "PV" not in page.content()
    assert page.request.get("/api/cases").json() == []
    assert page.request.get("/api/cases/1").status == 404
    assert page.request.get("/api/register").status == 403
    assert page.request.get("/api/evidence/public-key").status == 403
