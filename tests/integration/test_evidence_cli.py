"""The issue-4 command line, as an administrator of the CSU would type it: cases, holds with
four eyes, an export with its progress bar, `export verify` naming an altered file, the
register in CSV and HTML, and 31 days of retention refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from guetteur.bootstrap import Container
from guetteur.domain.cameras import CameraSpec
from guetteur.domain.timeutil import iso_paris
from guetteur.services.segment_index import SegmentRow
from support import make_fmp4

REPO = Path(__file__).resolve().parents[2]
SECRET_KEY = "test-secret-key-0123456789-abcdefghij"
S = 1_000_000


def cli(c: Container, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUETTEUR_")}
    env.update({"GUETTEUR_DATABASE_URL": c.settings.db_url, "GUETTEUR_SECRET_KEY": SECRET_KEY,
                "GUETTEUR_DATA_DIR": str(c.settings.data_dir), "COLUMNS": "200",
                "PYTHONPATH": str(REPO / "src")})
    return subprocess.run([sys.executable, "-m", "guetteur", *args], env=env,
                          capture_output=True, text=True, timeout=180, cwd=c.settings.data_dir)


@pytest.fixture
def c(make_container: Any) -> Container:
    return make_container()


def test_cli_case_hold_export_verify_register(c: Container, tmp_path: Path) -> None:
    clip = make_fmp4(tmp_path / "clip.mp4", seconds=4)
    cid = c.registry.add(CameraSpec(name="Parvis-Gare", main_url="rtsp://192.0.2.1/a"),
                         actor="admin").id
    base = (int(time.time()) - 3600) * S
    for i in range(3):
        path = c.store.stream_dir(cid, "main") / f"20261125T180000000Z_{i:06d}.mp4"
        path.write_bytes(clip.read_bytes())
        key = c.store.key_of(path)
        size, digest = c.store.finalize(key)
        c.index.insert([SegmentRow(cid, "main", key, base + 4 * i * S, base + 4 * (i + 1) * S,
                                   size, digest, "avc1.64000d", 0)], [])
    for name, role in (("chef1", "supervisor"), ("chef2", "supervisor"),
                       ("opj", "investigator")):
        c.accounts.add_user(name, "Tr3s-S3cret!pw", role)
        c.grants.add(name, "export")
    start, end = iso_paris(base + S)[:23], iso_paris(base + 11 * S)[:23]

    r = cli(c, "case", "add", "PV 2026/777", "--as", "opj", "--service", "BSU Centre",
            "--officer", "Lt Durand", "--date", "2026-11-24", "--legal-basis",
            "art. 60-1 CPP")
    assert r.returncode == 0, r.stderr
    assert "PV 2026/777" in r.stdout
    r = cli(c, "case", "add", "PV X/1", "--as", "chef1", "--service", "s", "--officer", "o",
            "--date", "2099-01-01", "--legal-basis", "b")
    assert r.returncode == 1 and "futur" in r.stderr

    r = cli(c, "hold", "add", "--case", "PV 2026/777", "--camera", "Parvis-Gare",
            "--from", start, "--to", end, "--as", "opj", "--json")
    assert r.returncode == 0, r.stderr
    [hold] = json.loads(r.stdout)
    r = cli(c, "hold", "release", str(hold["id"]), "--as", "chef1", "--reason", "classement")
    assert r.returncode == 0, r.stderr
    r = cli(c, "hold", "approve", str(hold["id"]), "--as", "chef1")
    assert r.returncode == 1 and "autre personne" in r.stderr
    r = cli(c, "hold", "list", "--as", "chef2")
    assert "release_requested" in r.stdout and "chef1" in r.stdout
    r = cli(c, "hold", "approve", str(hold["id"]), "--as", "chef2")
    assert r.returncode == 0, r.stderr
    assert "chef1" in r.stdout and "chef2" in r.stdout

    r = cli(c, "export", "create", "--case", "PV 2026/777", "--camera", "Parvis-Gare",
            "--from", start, "--to", end, "--as", "opj")
    assert r.returncode == 0, r.stderr
    assert "Extraction : 100 %" in r.stderr  # the progress, one line per 10 % off a terminal
    package = Path(r.stdout.split("Paquet : ")[1].split(" (")[0])
    assert package.exists() and c.exports.key.fingerprint() in r.stdout
    r = cli(c, "export", "verify", str(package), "--expected-key", c.exports.key.fingerprint())
    assert r.returncode == 0, r.stdout + r.stderr

    # one flipped byte in the video, inside the zip: verify fails and names the file
    with zipfile.ZipFile(package) as zf:
        mp4 = next(n for n in zf.namelist() if n.endswith(".mp4"))
        info = zf.getinfo(mp4)
    raw = bytearray(package.read_bytes())
    raw[info.header_offset + 30 + len(info.filename.encode()) + 5000] ^= 0xFF
    altered = tmp_path / "altered.zip"
    altered.write_bytes(bytes(raw))
    r = cli(c, "export", "verify", str(altered))
    assert r.returncode == 1 and mp4 in r.stdout

    r = cli(c, "camera", "add", "Trop-long", "--url", "rtsp://192.0.2.1/b",
            "--retention-days", "31")
    assert r.returncode == 1 and "30 jours" in r.stderr
    r = cli(c, "camera", "update", "Parvis-Gare", "--retention-days", "31")
    assert r.returncode == 1 and "30 jours" in r.stderr

    r = cli(c, "register", "export", "--format", "csv")
    assert r.returncode == 0, r.stderr
    kinds = [line.split(",")[3] for line in r.stdout.splitlines()[1:]]
    assert kinds == ["case_create", "hold_place", "hold_release_request",
                     "hold_release_approve", "export_create", "export_done"]
    out = tmp_path / "registre.html"
    r = cli(c, "register", "export", "--format", "html", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert "Gel levé (double validation)" in out.read_text()
    r = cli(c, "audit", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
