"""End-to-end fixtures: a real `guetteur serve` process recording real simulated cameras, and
headless Debian Chromium driven by Playwright (never `playwright install`: no browser
download; the system /usr/bin/chromium is used)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support import ServerProcess, SimulatedCameras, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--autoplay-policy=no-user-gesture-required"]


@dataclass
class UiServer:
    """Admin (live/playback/export on every camera), an operator granted live+playback on
    camera 1 only, a landlord whose partner owns camera 2, an investigator (OPJ) granted
    playback+export on every camera, and a supervisor granted playback+export and the audit
    trail (the second person of the four-eyes rules; reads the register). Image accounts enrol
    their second factor at first login (the test reads the secret on the enrolment page)."""

    base_url: str
    username: str
    password: str
    camera_ids: list[int] = field(default_factory=list)
    server: ServerProcess | None = None
    operator: tuple[str, str] = ("operateur", "operateur-password-42")
    landlord: tuple[str, str] = ("bailleur", "bailleur-password-42")
    investigator: tuple[str, str] = ("enqueteur", "enqueteur-password-42")
    supervisor: tuple[str, str] = ("superviseur", "superviseur-password-42")


def _segment_counts(db: Path) -> dict[int, int]:
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("SELECT camera_id, count(*) FROM segment WHERE stream='main' "
                                "GROUP BY camera_id").fetchall())
    finally:
        con.close()


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    work = tmp_path_factory.mktemp("e2e")
    sim = SimulatedCameras(work, cameras=2, shared_clip=False).start()
    server = ServerProcess(work / "var", segment_duration_s=4)
    try:
        ui = UiServer(server.base_url, "admin", "e2e-admin-password-42", [1, 2], server)
        steps = [
            (("partner", "add", "Habitat Rives"), None),
            (("camera", "add", "CAM-01", "--url", sim.url(0), "--sub-url", sim.url(0, "sub"),
              "--site", "Site 1"), None),
            (("camera", "add", "CAM-02", "--url", sim.url(1), "--sub-url", sim.url(1, "sub"),
              "--site", "Résidence Les Tilleuls", "--owner", "Habitat Rives"), None),
            (("user", "add", "admin", "--role", "admin"), ui.password),
            (("user", "add", ui.operator[0], "--role", "operator"), ui.operator[1]),
            (("user", "add", ui.landlord[0], "--role", "landlord", "--partner",
              "Habitat Rives"), ui.landlord[1]),
            (("user", "add", ui.investigator[0], "--role", "investigator", "--full-name",
              "Lieutenant Martin"), ui.investigator[1]),
            (("user", "add", ui.supervisor[0], "--role", "supervisor", "--full-name",
              "Cheffe de salle Roux"), ui.supervisor[1]),
            (("grant", "add", "admin", "--action", "live"), None),
            (("grant", "add", "admin", "--action", "playback"), None),
            (("grant", "add", "admin", "--action", "export"), None),
            (("grant", "add", ui.operator[0], "--action", "live", "--scope", "cameras",
              "--value", "CAM-01"), None),
            (("grant", "add", ui.operator[0], "--action", "playback", "--scope", "cameras",
              "--value", "CAM-01"), None),
            (("grant", "add", ui.investigator[0], "--action", "playback"), None),
            (("grant", "add", ui.investigator[0], "--action", "export"), None),
            (("grant", "add", ui.supervisor[0], "--action", "playback"), None),
            (("grant", "add", ui.supervisor[0], "--action", "export"), None),
            (("grant", "add", ui.supervisor[0], "--action", "audit"), None),
        ]
        for args, stdin in steps:
            res = server.cli(*args, stdin=stdin + "\n" if stdin else None)
            assert res.returncode == 0, (args, res.stdout, res.stderr)
        server.start()
        db = server.data_dir / "guetteur.db"
        wait_until(lambda: len(_segment_counts(db)) == 2
                   and min(_segment_counts(db).values()) >= 3, 60, "15 s of recording")
        yield ui
    finally:
        server.stop()
        sim.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread, which
    must be gone before any asyncio test runs."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module", autouse=True)
def warm_browser(browser: Any, ui_server: Any) -> None:
    """Chromium starts its network, storage and GPU helper processes at the first page, not
    at launch: load one page here, before any test, so that the `verify_cleanup` of the first
    test does not take them for processes the test left behind."""
    context = browser.new_context(base_url=ui_server.base_url)
    try:
        context.new_page().goto("/login")
    finally:
        context.close()
