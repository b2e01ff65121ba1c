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
                 clip_seconds: int = 4, shared_clip: bool = True) -> None:
        self.workdir = workdir
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
                         "GUETTEUR_SECRET_KEY": "test-secret-key-0123456789-abcdefghijkl"})
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
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None
