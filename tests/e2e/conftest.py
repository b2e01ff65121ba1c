"""End-to-end fixtures: a real `guetteur serve` process recording real simulated cameras, and
headless Debian Chromium driven by Playwright (never `playwright install`: no browser
download; the system /usr/bin/chromium is used)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support import ServerProcess, SimulatedCameras, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--autoplay-policy=no-user-gesture-required"]


@dataclass
class UiServer:
    base_url: str
    username: str
    password: str
    camera_ids: list[int] = field(default_factory=list)
    server: ServerProcess | None = None


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
        for i in range(2):
            res = server.cli("camera", "add", f"CAM-0{i + 1}", "--url", sim.url(i),
                             "--sub-url", sim.url(i, "sub"), "--site", f"Site {i + 1}")
            assert res.returncode == 0, res.stderr
        password = "e2e-admin-password-42"
        res = server.cli("user", "add", "admin", "--role", "admin", stdin=password + "\n")
        assert res.returncode == 0, res.stderr
        server.start()
        db = server.data_dir / "guetteur.db"
        wait_until(lambda: len(_segment_counts(db)) == 2
                   and min(_segment_counts(db).values()) >= 3, 60, "15 s of recording")
        yield UiServer(server.base_url, "admin", password, [1, 2], server)
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
