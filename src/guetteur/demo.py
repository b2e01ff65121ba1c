"""`guetteur demo`: simulated cameras + the real server, SQLite under ./var.

Starts the RTSP simulator as a child process (real RTSP/H.264 servers), registers its cameras
(idempotent: a second run reuses them), creates or resets the `admin` account with a fresh
generated password, prints the URL and the password, then serves until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
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
STREET_VERSION = 2  # bump when the street recipe changes
STREET_S = 60  # one loop of the street: a vehicle every 10 s
# The test-pattern clips are encoded once per camera; ultrafast halves the time of veryfast
# (1.8 s against 3.6 s a 10-s 1080p clip on 2 cores) at the same bitrate.
DEMO_PRESET = "ultrafast"


def demo_cache_dir() -> Path:
    """Where the demo keeps what it encodes and renders once (~60 MB), outside the clone so a
    new clone or a wiped `var/` starts at once: `$GUETTEUR_SIM_CACHE_DIR`, else
    `$XDG_CACHE_HOME/guetteur`, else `~/.cache/guetteur`."""
    given = os.environ.get("GUETTEUR_SIM_CACHE_DIR")
    if given:
        return Path(given).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / "guetteur"


class Steps:
    """Prints the demo's preparation steps with the time since the start."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        self._n = 0

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def step(self, text: str) -> None:
        self._n += 1
        typer.echo(f"[{self.elapsed_s():5.1f} s] {self._n}/{self.total} {text}")

    def progress(self, text: str) -> None:
        typer.echo(f"[{self.elapsed_s():5.1f} s]     {text}")


def street_footage(cache: Path, steps: Steps | None = None) -> tuple[Path, list[str]]:
    """The demo's street (rendered once, ~30 s on 2 cores): one minute of 1080p with a vehicle
    every 10 s carrying a fictitious French plate; and those plates."""
    from guetteur.adapters.plates.synth import plan_vehicles, render_video

    video = cache / f"street-demo-v{STREET_VERSION}.h264"
    plates = video.with_suffix(".plates.json")
    if not (video.exists() and plates.exists()):
        cache.mkdir(parents=True, exist_ok=True)
        specs = plan_vehicles(STREET_S, 10.0, seed=2026, char_height_px=(28.0, 40.0),
                              blur_sigma_px=(0.0, 0.8), contrast=(1.0,))
        partial = video.with_name(f".{video.name}")

        def progress(done: int, total: int) -> None:
            if steps is not None and done % (10 * (total // STREET_S)) == 0:
                steps.progress(f"rue : {100 * done // total} %")

        truths = render_video(partial, STREET_S, vehicles=specs, seed=2026, preset="veryfast",
                              progress=progress)
        partial.replace(video)
        plates.write_text(json.dumps([t.text for t in truths]))
    elif steps is not None:
        steps.progress(f"déjà prête ({video})")
    return video, json.loads(plates.read_text())


def camera_clips(names: list[str], cache: Path, steps: Steps | None = None) -> None:
    """Encode (or find in the cache) the test-pattern clips of the cameras that do not film
    the street, so the simulator starts at once."""
    from guetteur.adapters.simulator.clips import ensure_camera_clips

    for i, name in enumerate(names, start=1):
        ensure_camera_clips(name, cache, preset=DEMO_PRESET)
        if steps is not None:
            steps.progress(f"clips : {i}/{len(names)} ({name})")


def _announce_when_listening(host: str, port: int, text: str, steps: Steps) -> None:
    """Prints `text` once the web server accepts connections (from a daemon thread: the
    server itself runs in the main thread)."""
    def wait() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
                typer.echo(text.replace("{elapsed}", f"{steps.elapsed_s():.0f}"))
                return
            time.sleep(0.2)

    threading.Thread(target=wait, name="demo-announce", daemon=True).start()


def start_simulator(cameras: int, rtsp_port: int, data_dir: Path, cache: Path,
                    timeout_s: float = 600, street: Path | None = None
                    ) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    status = data_dir / "simulator.json"
    status.unlink(missing_ok=True)
    extra = [] if street is None else ["--source", str(street), "--source-cameras",
                                       str(STREET_CAMERAS)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "guetteur.adapters.simulator", "--cameras", str(cameras),
         "--port", str(rtsp_port), "--cache-dir", str(cache),
         "--status-file", str(status), "--preset", DEMO_PRESET, "--log-level", "WARNING",
         *extra], preexec_fn=die_with_parent)
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
    from guetteur.adapters.simulator.runner import camera_names
    from guetteur.web.server import run_server

    steps = Steps(4)
    env = _env_file(data_dir, port, segment_s).resolve()
    cache = demo_cache_dir()
    typer.echo(f"Préparation de la démo ({cameras} caméras simulées). Le premier lancement "
               f"encode les images une fois pour toutes (environ 45 s sur 2 cœurs), gardées "
               f"dans {cache}.")
    steps.step("Rue avec des véhicules (lecture de plaques)…")
    street, plates = street_footage(cache, steps)
    names = camera_names(cameras)
    steps.step(f"Clips des caméras de test ({max(0, cameras - STREET_CAMERAS)})…")
    camera_clips(names[STREET_CAMERAS:], cache, steps)
    steps.step("Démarrage des caméras simulées (serveurs RTSP)…")
    sim, info = start_simulator(cameras, rtsp_port, data_dir, cache, street=street)
    try:
        steps.step("Base de données, caméras, comptes, serveur web…")
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
        # absolute paths: the hints work from any folder
        cli = Path(sys.executable).absolute().with_name("guetteur")
        lines = [
            "",
            "  Guetteur (démo) est prêt (en {elapsed} s) :",
            f"    URL          : http://{host}:{port}/",
            "    identifiant  : admin",
            f"    mot de passe : {accounts['admin']}",
            "    second facteur : à la première connexion, ajoutez le QR code à une "
            "application d'authentification (TOTP) ;",
            "                     sans téléphone (démo uniquement) :",
            f"                     {cli} user totp-code admin --config {env}",
            "    autres comptes : " + ", ".join(
                f"{name} ({role}) / {pw}" for name, (role, pw) in accounts["others"].items()),
            f"    caméras      : {len(cams)} simulées (RTSP sur le port {rtsp_port}) ; "
            f"{', '.join(str(x['name']) for x in cams[:STREET_CAMERAS])} filment une "
            "rue où passent des véhicules",
            f"    plaques      : {', '.join(plates[:4])}… (fictives) : créez une "
            "réquisition, lancez la lecture des plaques, cherchez-les",
            f"    données      : {data_dir.resolve()} (configuration {env})",
            f"    autres commandes : {cli} --help   (ajoutez --config {env})",
            "  Ctrl-C pour arrêter.",
            ""]
        _announce_when_listening(host, port, "\n".join(lines), steps)
        run_server(c)
    finally:
        with contextlib.suppress(ProcessLookupError):
            sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
