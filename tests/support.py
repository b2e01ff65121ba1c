"""Test helpers: real simulated cameras and real Guetteur processes, always cleaned up.

`SimulatedCameras` runs the GStreamer RTSP simulator in a child process (it can be killed and
restarted on the same port, like a camera that goes away and comes back). `ServerProcess` runs
`guetteur serve` as a real process (so it can be SIGKILLed). `wait_until` polls a condition
with a deadline instead of sleeping for a guessed time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
CLIP_CACHE = Path(os.environ.get("GUETTEUR_SIM_CACHE_DIR", REPO / "var" / "simcache-test"))
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], T], timeout_s: float, what: str,
               interval_s: float = 0.2) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


class SimulatedCameras:
    def __init__(self, workdir: Path, cameras: int = 1, port: int | None = None,
                 user: str | None = None, password: str | None = None,
                 clip_seconds: int = 4, shared_clip: bool = True,
                 source: Path | None = None) -> None:
        self.workdir = workdir
        self.source = source  # an Annex-B file every camera loops (simulator --source)
        self.cameras = cameras
        self.port = port or free_port()
        self.user, self.password = user, password
        self.clip_seconds = clip_seconds
        self.shared_clip = shared_clip
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout_s: float = 300) -> SimulatedCameras:
        CLIP_CACHE.mkdir(parents=True, exist_ok=True)
        status = self.workdir / f"sim-{self.port}.json"
        status.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "guetteur.adapters.simulator", "--cameras",
               str(self.cameras), "--port", str(self.port), "--cache-dir", str(CLIP_CACHE),
               "--status-file", str(status), "--clip-seconds", str(self.clip_seconds),
               "--log-level", "WARNING"]
        if self.shared_clip:
            cmd.append("--shared-clip")
        if self.source is not None:
            cmd += ["--source", str(self.source)]
        if self.user:
            cmd += ["--user", self.user, "--password", self.password or ""]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"simulator exited with {proc.returncode}")
            return status.exists()

        wait_until(ready, timeout_s, "the RTSP simulator")
        self.info = json.loads(status.read_text())
        return self

    def url(self, index: int = 0, stream: str = "main") -> str:
        return str(self.info["cameras"][index][f"{stream}_url"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class ServerProcess:
    """`guetteur serve` in a child process, configured by environment variables."""

    def __init__(self, data_dir: Path, port: int | None = None, **settings: Any) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.env = dict(os.environ)
        self.env.update({"GUETTEUR_DATA_DIR": str(data_dir), "GUETTEUR_HTTP_PORT": str(self.port),
                         "GUETTEUR_SECRET_KEY": "test-secret-key-0123456789-abcdefghijkl",
                         # the space guard's reserve file: small, every test server makes one
                         "GUETTEUR_DISK_RESERVE_BYTES": str(1 << 20)})
        for key, value in settings.items():
            self.env[f"GUETTEUR_{key.upper()}"] = str(value)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "guetteur", *args], env=self.env,
                              input=stdin, capture_output=True, text=True, timeout=120)

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logf = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "guetteur", "serve"], env=self.env,
                                     stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        import httpx

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                return httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 60, "the Guetteur server")
        return self

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                # a stuck shutdown: have the server write every thread's stack, then show it
                self.proc.send_signal(signal.SIGUSR1)
                time.sleep(1)
                self.proc.kill()
                self.proc.wait()
                sys.stderr.write("server did not stop within 30 s; its log ends with:\n"
                                 + self.log.read_text(errors="replace")[-20000:])
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None


# -- web helpers --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    websocket: bool
    endpoint_module: str | None
    endpoint_source: str


def app_routes(app: Any) -> list[RouteInfo]:
    """Every route of the app, flattened (FastAPI >= 0.12x nests included routers)."""
    import inspect

    from starlette.routing import WebSocketRoute

    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        contexts: list[Any] = list(app.routes)
        originals = contexts
    else:
        contexts = list(iter_route_contexts(app.routes))
        originals = [ctx.original_route for ctx in contexts]
    routes = []
    for ctx, original in zip(contexts, originals, strict=True):
        endpoint = getattr(original, "endpoint", None)
        try:
            source = inspect.getsource(endpoint) if endpoint is not None else ""
        except (OSError, TypeError):
            source = ""
        routes.append(RouteInfo(
            path=ctx.path, methods=frozenset(getattr(ctx, "methods", None) or ()),
            websocket=isinstance(original, WebSocketRoute),
            endpoint_module=getattr(endpoint, "__module__", None), endpoint_source=source))
    return routes


MP4_BOXES = (b"ftyp", b"moov", b"moof", b"mdat", b"styp", b"free")


def looks_like_video(content_type: str, body: bytes) -> bool:
    """A response that carries media: a video/* type, or an MP4 box at its start."""
    return content_type.startswith("video/") or (len(body) >= 8 and body[4:8] in MP4_BOXES)


def page_value(html: str, pattern: str) -> str:
    """The first group of `pattern` in a page (a hidden field, the enrolment secret)."""
    import re

    found = re.search(pattern, html)
    if found is None:
        raise AssertionError(f"{pattern!r} not found in the page: {html[:500]}")
    return found.group(1)


CSRF_FIELD = r'name="csrf_token" value="([^"]+)"'
TOTP_SECRET = r'id="totp-secret"[^>]*>\s*([A-Z2-7]+)\s*<'


def totp_code(secret: str, now_us: int) -> str:
    import pyotp

    return str(pyotp.TOTP(secret).at(now_us // 1_000_000))


def make_fmp4(path: Path, seconds: int = 2) -> Path:
    """A small fragmented MP4 (H.264 test pattern), as the recorder writes them."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", str(seconds),
         "-c:v", "libx264", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p", "-f", "mp4",
         "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
         "-frag_duration", "200000", str(path)],
        check=True, timeout=60)
    return path
