"""Entry point of the simulated cameras: prepare clips, start the RTSP server, announce it.

Responsibility: turn the options of ``guetteur simulate`` / ``python -m
guetteur.adapters.simulator`` into cached clips (``clips.py``) and a running server
(``server.py``), and write the status file that tells callers the server is up.

Invariants:
- the status file appears only once the server is listening (written to a temporary name,
  then renamed), and holds no credentials; it is removed when the server stops cleanly, so a
  file left behind means the process was killed;
- camera ``i`` (from 1) is named ``CAM-{i:02d}`` unless a name is given, and is served at
  ``/cam{i}/main`` and ``/cam{i}/sub``;
- with ``shared_clip`` every camera streams the same two clips (burnt with ``SHARED_LABEL``):
  one encode, one copy in memory, whatever the number of cameras;
- with ``source`` every camera's main stream loops that file (checked by
  ``clips.check_source_clip``) and its sub stream a 640x360 copy of it: one copy in memory,
  as with ``shared_clip``; the status file's ``clip_seconds`` is the file's length.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from guetteur.adapters.simulator import clips
from guetteur.adapters.simulator.server import CameraMount, SimulatorServer

log = logging.getLogger(__name__)

DEFAULT_PORT = 8554
SHARED_LABEL = "GUETTEUR SIM"


def camera_names(cameras: int, names: list[str] | None = None) -> list[str]:
    """Names of cameras 1..``cameras``: the given ones first, then ``CAM-{i:02d}``."""
    if cameras < 1:
        raise ValueError(f"at least one camera is needed, not {cameras}")
    given = list(names or [])
    if len(given) > cameras:
        raise ValueError(f"{len(given)} names given for {cameras} cameras")
    if any(not n.strip() for n in given):
        raise ValueError("camera names must not be empty")
    return given + [f"CAM-{i:02d}" for i in range(len(given) + 1, cameras + 1)]


def prepare_cameras(
    names: list[str],
    cache_dir: Path,
    clip_seconds: int = clips.DEFAULT_DURATION_S,
    shared_clip: bool = False,
    preset: str = clips.DEFAULT_PRESET,
    source: Path | None = None,
    source_cameras: int | None = None,
) -> list[CameraMount]:
    """Encode (or reuse) the clips and describe every camera's mounts. With ``source``, the
    first ``source_cameras`` cameras (all when None) loop it, the others their test pattern."""
    shared = from_source = None
    if source is not None:
        from_source = clips.ensure_source_clips(source, cache_dir, preset)
    if shared_clip:
        shared = clips.ensure_camera_clips(SHARED_LABEL, cache_dir, clip_seconds, preset)
    mounts = []
    for number, name in enumerate(names, start=1):
        on_source = from_source is not None and (source_cameras is None
                                                 or number <= source_cameras)
        pair = (from_source if on_source else shared) or clips.ensure_camera_clips(
            name, cache_dir, clip_seconds, preset)
        mounts.append(CameraMount(name=name, number=number, main_clip=pair.main, sub_clip=pair.sub))
    return mounts


def url_host(bind: str) -> str:
    """Host to put in URLs for a bind address (a wildcard bind is reached on loopback)."""
    if bind in ("", "0.0.0.0"):
        return "127.0.0.1"
    if bind == "::":
        return "[::1]"
    return f"[{bind}]" if ":" in bind else bind


def status_document(
    mounts: list[CameraMount],
    bind: str,
    port: int,
    pid: int,
    started_utc: datetime,
    clip_seconds: int,
    source: Path | None = None,
) -> dict[str, Any]:
    """Content of the status file."""
    base = f"rtsp://{url_host(bind)}:{port}"
    extra = {} if source is None else {"source": str(source)}
    return {
        **extra,
        "port": port,
        "pid": pid,
        "started_utc": started_utc.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "clip_seconds": clip_seconds,
        "fps": clips.FPS,
        "cameras": [
            {"name": m.name, "main_url": base + m.path("main"), "sub_url": base + m.path("sub")}
            for m in mounts
        ],
    }


def write_status_file(path: Path, document: dict[str, Any]) -> None:
    """Write JSON atomically: readers see the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def run(
    cameras: int,
    port: int = DEFAULT_PORT,
    cache_dir: Path = Path("var/simcache"),
    names: list[str] | None = None,
    user: str | None = None,
    password: str | None = None,
    clip_seconds: int = clips.DEFAULT_DURATION_S,
    shared_clip: bool = False,
    status_file: Path | None = None,
    bind: str = "127.0.0.1",
    preset: str = clips.DEFAULT_PRESET,
    auth_method: str = "digest",
    on_ready: Callable[[dict[str, Any]], None] | None = None,
    source: Path | None = None,
    source_cameras: int | None = None,
) -> None:
    """Serve ``cameras`` simulated cameras until SIGTERM/SIGINT. ``port=0`` picks a free port
    (read it from the status file). ``source``: an Annex-B H.264 file every camera loops
    instead of the test pattern; only the first ``source_cameras`` of them when given (the
    others show their test pattern). Blocks; returns after a clean stop."""
    clips.validate_duration_s(clip_seconds)
    if source is not None:
        source_s = clips.check_source_clip(source) // clips.FPS
        if source_cameras is None or source_cameras >= cameras:
            clip_seconds = source_s
    all_names = camera_names(cameras, names)
    mounts = prepare_cameras(all_names, cache_dir, clip_seconds, shared_clip, preset, source,
                             source_cameras)
    server = SimulatorServer(mounts, port, bind, user, password, auth_method)
    bound_port = server.start()
    document = status_document(
        mounts, bind, bound_port, os.getpid(), datetime.now(UTC), clip_seconds, source
    )

    def announce() -> None:
        if status_file is not None:
            write_status_file(status_file, document)
        log.info("simulator ready: %s", ", ".join(c["main_url"] for c in document["cameras"]))
        if on_ready is not None:
            on_ready(document)

    try:
        server.run_until_signal(on_ready=announce)
    finally:
        if status_file is not None:
            status_file.unlink(missing_ok=True)
