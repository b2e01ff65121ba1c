"""`guetteur demo` from an empty data folder, as a CSU's IT team runs it: it prints its
preparation steps, then a banner once the web server answers; every hint it prints works from
any folder; the cameras record; Ctrl-C stops it and its simulator.

How long it takes is measured in `bench/demo_ready.py`, not here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from support import CLIP_CACHE, free_port, wait_until

pytestmark = pytest.mark.integration


def test_demo_prints_steps_then_a_banner_whose_hints_work_anywhere(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port, rtsp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUETTEUR_")}
    env["GUETTEUR_SIM_CACHE_DIR"] = str(CLIP_CACHE)  # the street is rendered once per machine
    proc = subprocess.Popen(
        [sys.executable, "-m", "guetteur", "demo", "--cameras", "3", "--data-dir",
         str(data_dir), "--port", str(port), "--rtsp-port", str(rtsp_port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              name="demo-output")
    reader.start()
    try:
        wait_until(lambda: any("est prêt" in line for line in lines) or proc.poll() is not None,
                   300, "the demo's banner")
        out = "".join(lines)
        assert proc.poll() is None, out
        for step in ("1/4", "2/4", "3/4", "4/4"):
            assert f"{step} " in out, out
        assert re.search(r"est prêt \(en \d+ s\)", out), out
        # the banner comes once the server answers, not before
        assert httpx.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200
        password = re.search(r"mot de passe : (\S+)", out)
        assert password, out

        # the printed second-factor hint is an absolute command that works from another folder
        hint = re.search(r"^\s+(/\S+/guetteur user totp-code admin --config /\S+)$", out,
                         re.MULTILINE)
        assert hint, out
        elsewhere = tmp_path / "ailleurs"
        elsewhere.mkdir()
        done = subprocess.run(hint.group(1).split(), cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert re.fullmatch(r"\d{6}\s*", done.stdout), done.stdout

        # the cameras record (the status command, with the printed --config, from elsewhere)
        cli = hint.group(1).split()[0]
        config = hint.group(1).split()[-1]

        def recording() -> bool:
            st = subprocess.run([cli, "status", "--json", "--config", config], cwd=elsewhere,
                                env=env, capture_output=True, text=True, timeout=60)
            return st.returncode == 0 and '"recording"' in st.stdout

        wait_until(recording, 60, "the demo's cameras recording", interval_s=1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(10)
    assert proc.returncode in (0, 130, -signal.SIGINT), "".join(lines)[-3000:]
