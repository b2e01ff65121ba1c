"""`guetteur demo`: simulated cameras + the real server, SQLite under ./var.

Starts the RTSP simulator as a child process (real RTSP/H.264 servers), registers its cameras
(idempotent: a second run reuses them), creates or resets the `admin` account with a fresh
generated password, prints the URL and the password, then serves until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import typer

from guetteur.adapters.media.ffmpeg import die_with_parent
from guetteur.bootstrap import build
from guetteur.domain.cameras import CameraSpec
from guetteur.domain.errors import Conflict, GuetteurError
from guetteur.services.accounts import generate_password
from guetteur.settings import load_settings

SITES = [("Place de l'Hôtel de Ville", "city", 48.8566, 2.3522),
         ("Gare SNCF - parvis", "city", 48.8443, 2.3745),
         ("Carrefour Jean-Jaurès", "city", 48.8790, 2.3710),
         ("Parking du Marché", "city", 48.8650, 2.3300),
         ("Résidence Les Tilleuls", "Habitat Rives", 48.8700, 2.3900),
         ("Résidence Les Tilleuls", "Habitat Rives", 48.8702, 2.3904),
         ("Résidence Le Verger", "Logis Val", 48.8500, 2.3600),
         ("Résidence Le Verger", "Logis Val", 48.8503, 2.3606)]


def _env_file(data_dir: Path, port: int, segment_s: int) -> Path:
    path = data_dir / "guetteur.env"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(
            f"GUETTEUR_DATA_DIR={data_dir.resolve()}\n"
            f"GUETTEUR_SECRET_KEY={secrets.token_urlsafe(48)}\n"
            f"GUETTEUR_HTTP_PORT={port}\n"
            f"GUETTEUR_SEGMENT_DURATION_S={segment_s}\n")
    return path


DEMO_USERS = {"operateur": ("operator", None), "bailleur.rives": ("landlord", "Habitat Rives"),
              "dpo": ("auditor", None), "superviseur": ("supervisor", None),
              "enqueteur": ("investigator", None)}


def _demo_accounts(c: Any) -> dict[str, Any]:
    """admin (every image right), an operator (city cameras), a landlord, an auditor, a
    supervisor (every image right, audit) and an investigator (playback and export); each run
    gives them fresh passwords (printed) and keeps their second factor."""
    passwords: dict[str, Any] = {"others": {}}
    users = {("admin", "admin", None), *((n, r, p) for n, (r, p) in DEMO_USERS.items())}
    partners = {p["name"] for p in c.registry.list_partners()}
    for name, role, partner in sorted(users):
        if partner and partner not in partners:
            c.registry.add_partner(partner, actor="demo")
            partners.add(partner)
        password = generate_password()
        try:
            c.accounts.add_user(name, password, role, None, partner)
            if role == "admin":
                for action in ("live", "playback", "export"):
                    c.grants.add(name, action, actor="demo")
            elif role == "operator":
                for action in ("live", "playback"):
                    c.grants.add(name, action, "owner", "city", actor="demo")
            elif role == "supervisor":
                for action in ("live", "playback", "export", "audit"):
                    c.grants.add(name, action, actor="demo")
            elif role == "investigator":
                for action in ("playback", "export"):
                    c.grants.add(name, action, actor="demo")
        except Conflict:
            c.accounts.set_password(name, password)
        if name == "admin":
            passwords["admin"] = password
        else:
            passwords["others"][name] = (role, password)
    return passwords


STREET_CAMERAS = 2  # the first cameras film a street with vehicles (plate reading)
STREET_VERSION = 1  # bump when the street recipe changes


def street_footage(cache: Path) -> tuple[Path, list[str]]:
    """The demo's street (rendered once, ~1 min of CPU): 2 minutes of 1080p with a vehicle
    every 10 s carrying a fictitious French plate; and those plates."""
    from guetteur.adapters.plates.synth import plan_vehicles, render_video

    video = cache / f"street-demo-v{STREET_VERSION}.h264"
    plates = video.with_suffix(".plates.json")
    if not (video.exists() and plates.exists()):
        cache.mkdir(parents=True, exist_ok=True)
        typer.echo("Premier lancement : rendu d'une rue avec des véhicules pour la lecture de "
                   "plaques (environ une minute)…")
        specs = plan_vehicles(120, 10.0, seed=2026, char_height_px=(28.0, 40.0),
                              blur_sigma_px=(0.0, 0.8), contrast=(1.0,))
        partial = video.with_name(f".{video.name}")
        truths = render_video(partial, 120, vehicles=specs, seed=2026, preset="veryfast")
        partial.replace(video)
        plates.write_text(json.dumps([t.text for t in truths]))
    return video, json.loads(plates.read_text())


def start_simulator(cameras: int, rtsp_port: int, data_dir: Path, timeout_s: float = 600,
                    street: Path | None = None
                    ) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    status = data_dir / "simulator.json"
    status.unlink(missing_ok=True)
    extra = [] if street is None else ["--source", str(street), "--source-cameras",
                                       str(STREET_CAMERAS)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "guetteur.adapters.simulator", "--cameras", str(cameras),
         "--port", str(rtsp_port), "--cache-dir", str(data_dir / "simcache"),
         "--status-file", str(status), *extra], preexec_fn=die_with_parent)
    deadline = time.monotonic() + timeout_s
    while not status.exists():
        if proc.poll() is not None:
            raise GuetteurError(f"le simulateur de caméras s'est arrêté (code {proc.returncode})")
        if time.monotonic() > deadline:
            proc.kill()
            raise GuetteurError("le simulateur de caméras n'a pas démarré à temps")
        time.sleep(0.3)
    return proc, json.loads(status.read_text())


def run_demo(cameras: int, data_dir: Path, port: int, rtsp_port: int, segment_s: int) -> None:
    from guetteur.web.server import run_server

    env = _env_file(data_dir, port, segment_s)
    typer.echo(f"Préparation de {cameras} caméras simulées (premier lancement : encodage des "
               "clips, environ 5 s par caméra)…")
    street, plates = street_footage(data_dir / "simcache")
    sim, info = start_simulator(cameras, rtsp_port, data_dir, street=street)
    try:
        c = build(load_settings(env, http_port=port, segment_duration_s=segment_s))
        partners = {p["name"] for p in c.registry.list_partners()}
        existing = {v.name for v in c.registry.list()}
        cams = info["cameras"]
        assert isinstance(cams, list)
        for i, cam in enumerate(cams):
            site, owner, lat, lon = SITES[i % len(SITES)]
            if owner != "city" and owner not in partners:
                c.registry.add_partner(owner, actor="demo")
                partners.add(owner)
            if cam["name"] in existing:
                continue
            c.registry.add(CameraSpec(
                name=cam["name"], main_url=cam["main_url"], sub_url=cam["sub_url"],
                owner=owner, site=site, latitude=lat, longitude=lon,
                purposes=("voie publique",) if owner == "city" else ("parties communes",),
                authorisation_ref=f"AP-2026-{100 + i}", retention_days=30), actor="demo")
        accounts = _demo_accounts(c)
        host = c.settings.http_host
        typer.secho("\n  Guetteur (démo) est prêt :", bold=True)
        typer.echo(f"    URL          : http://{host}:{port}/")
        typer.echo("    identifiant  : admin")
        typer.echo(f"    mot de passe : {accounts['admin']}")
        typer.echo("    second facteur : à la première connexion, ajoutez le QR code à une "
                   "application d'authentification (TOTP) ;")
        typer.echo("                     sans téléphone : `.venv/bin/guetteur user totp-code "
                   "admin` (démo uniquement)")
        typer.echo("    autres comptes : " + ", ".join(
            f"{name} ({role}) / {pw}" for name, (role, pw) in accounts["others"].items()))
        typer.echo(f"    caméras      : {len(cams)} simulées (RTSP sur le port {rtsp_port}) ; "
                   f"{', '.join(str(x['name']) for x in cams[:STREET_CAMERAS])} filment une "
                   "rue où passent des véhicules")
        typer.echo(f"    plaques      : {', '.join(plates[:4])}… (fictives) : créez une "
                   "réquisition, lancez la lecture des plaques, cherchez-les")
        typer.echo(f"    données      : {data_dir.resolve()} (configuration {env})")
        typer.echo("  Ctrl-C pour arrêter.\n")
        run_server(c)
    finally:
        with contextlib.suppress(ProcessLookupError):
            sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
