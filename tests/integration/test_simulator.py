"""Integration tests of the simulated cameras: real ffmpeg/libx264 clips, a real GStreamer RTSP
server in a subprocess, real RTSP clients (ffprobe, ffmpeg, PyAV) on loopback.

Every process started here is stopped in a fixture teardown or a ``finally``. Encoded clips are
cached in ``$GUETTEUR_SIM_CACHE_DIR`` (default ``var/simcache-test`` in the repository) so a
second run does not encode again.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guetteur.adapters.simulator import clips, frameindex

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CLIP_SECONDS = 4
CLIP_FRAMES = CLIP_SECONDS * clips.FPS
USER = "operateur"
PASSWORD = "s3cret-pw"
START_TIMEOUT_S = 240


@pytest.fixture(scope="session")
def clip_cache_dir() -> Path:
    path = Path(os.environ.get("GUETTEUR_SIM_CACHE_DIR", REPO / "var" / "simcache-test"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_simulator(cache_dir: Path, status_file: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    cmd = [
        sys.executable, "-m", "guetteur.adapters.simulator", "--port", "0",
        "--cache-dir", str(cache_dir), "--status-file", str(status_file),
        "--clip-seconds", str(CLIP_SECONDS), "--log-level", "WARNING", *extra,
    ]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_status(proc: subprocess.Popen[bytes], status_file: Path) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if status_file.exists():
            return json.loads(status_file.read_text())
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"simulator exited with {proc.returncode}: {err}")
        time.sleep(0.1)
    pytest.fail("simulator did not write its status file in time")


def stop_simulator(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr:
        proc.stderr.close()
    return proc.returncode


@pytest.fixture
def simulator(clip_cache_dir: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Two cameras with credentials on a free port; stopped (and checked) after each test,
    as the suite's ``verify_cleanup`` wants no process left between tests."""
    status_file = tmp_path / "sim.json"
    proc = start_simulator(
        clip_cache_dir, status_file, "--cameras", "2", "--user", USER, "--password", PASSWORD
    )
    try:
        status = wait_for_status(proc, status_file)
        yield status
    finally:
        code = stop_simulator(proc)
    assert code == 0, "the simulator must stop cleanly on SIGTERM"
    assert not status_file.exists(), "a clean stop removes the status file"


def with_credentials(url: str, user: str = USER, password: str = PASSWORD) -> str:
    return url.replace("rtsp://", f"rtsp://{user}:{password}@", 1)


def ffprobe_stream(url: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
        "-show_entries", "stream=codec_name,width,height", "-of", "json", url,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


def record_cmd(url: str, out: Path, seconds: int) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-rtsp_transport", "tcp", "-i", url,
        "-map", "0:v", "-c", "copy", "-t", str(seconds), str(out),
    ]  # fmt: skip


def probe_file(path: Path) -> tuple[float, int]:
    cmd = [
        "ffprobe", "-v", "error", "-count_packets", "-show_entries",
        "format=duration:stream=nb_read_packets", "-of", "json", str(path),
    ]  # fmt: skip
    info = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    return float(info["format"]["duration"]), int(info["streams"][0]["nb_read_packets"])


def decode_errors(path: Path) -> str:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    return done.stderr + ("" if done.returncode == 0 else f"exit {done.returncode}")


def test_status_file_and_stream_sizes(simulator: dict[str, Any]) -> None:
    port = simulator["port"]
    assert port > 0
    assert [c["name"] for c in simulator["cameras"]] == ["CAM-01", "CAM-02"]
    assert simulator["cameras"][1]["sub_url"] == f"rtsp://127.0.0.1:{port}/cam2/sub"
    assert USER not in json.dumps(simulator) and PASSWORD not in json.dumps(simulator)
    for cam in simulator["cameras"]:
        for key, size in (("main_url", (1920, 1080)), ("sub_url", (640, 360))):
            done = ffprobe_stream(with_credentials(cam[key]))
            assert done.returncode == 0, done.stderr
            stream = json.loads(done.stdout)["streams"][0]
            assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", *size)


def test_recording_six_seconds_decodes_cleanly(simulator: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    url = with_credentials(simulator["cameras"][0]["main_url"])
    done = subprocess.run(record_cmd(url, out, 6), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    duration_s, packets = probe_file(out)
    assert 5.5 <= duration_s <= 6.5
    assert packets >= 6 * clips.FPS - 30  # ffmpeg may skip up to one GOP before a keyframe
    assert decode_errors(out) == ""


def test_bad_or_missing_credentials_are_refused(simulator: dict[str, Any]) -> None:
    url = simulator["cameras"][0]["main_url"]
    for bad_url in (
        with_credentials(url, USER, "wrong"),
        with_credentials(url, "intrus", PASSWORD),
        url,
    ):
        done = ffprobe_stream(bad_url)
        assert done.returncode != 0
        assert "401" in done.stderr


def test_two_concurrent_clients_of_one_camera_both_get_video(
    simulator: dict[str, Any], tmp_path: Path
) -> None:
    url = with_credentials(simulator["cameras"][1]["main_url"])
    outs = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    procs: list[subprocess.Popen[str]] = []
    try:
        for out in outs:
            procs.append(
                subprocess.Popen(record_cmd(url, out, 4), stderr=subprocess.PIPE, text=True)
            )
            time.sleep(0.5)  # the second client joins a media that is already playing
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for out in outs:
        duration_s, packets = probe_file(out)
        assert duration_s >= 3.5 and packets >= 2 * clips.FPS
        assert decode_errors(out) == ""


def test_a_client_can_reconnect(simulator: dict[str, Any]) -> None:
    url = with_credentials(simulator["cameras"][0]["sub_url"])
    for _ in range(3):  # each time the last client leaves, the pipeline is torn down
        done = ffprobe_stream(url)
        assert done.returncode == 0, done.stderr


def test_frame_index_advances_with_time(simulator: dict[str, Any]) -> None:
    import av

    url = with_credentials(simulator["cameras"][0]["main_url"])
    indexes: list[tuple[float, int]] = []
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=20) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            index = frameindex.decode_av_frame(frame)
            assert index is not None, "the frame index marker must be readable"
            assert 0 <= index < CLIP_FRAMES
            indexes.append((float(frame.pts * stream.time_base), index))
            if indexes[-1][0] - indexes[0][0] >= 1.0:
                break
    (t0, first), (t1, last) = indexes[0], indexes[-1]
    assert t1 - t0 == pytest.approx(1.0, abs=0.05)
    assert (last - first) % CLIP_FRAMES == 25


def test_shared_clip_without_credentials(clip_cache_dir: Path, tmp_path: Path) -> None:
    status_file = tmp_path / "sim.json"
    proc = start_simulator(
        clip_cache_dir, status_file, "--cameras", "3", "--shared-clip", "--name", "Mairie"
    )
    try:
        status = wait_for_status(proc, status_file)
        assert [c["name"] for c in status["cameras"]] == ["Mairie", "CAM-02", "CAM-03"]
        done = ffprobe_stream(status["cameras"][2]["sub_url"])
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["streams"][0]["width"] == 640
    finally:
        assert stop_simulator(proc) == 0


def port_outside_ephemeral_range() -> int:
    """A free port that outgoing connections of other processes cannot take meanwhile."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(100):
        port = random.randrange(max(low - 12000, 1024), low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port found below the ephemeral range")


def test_restart_on_the_same_port_after_a_kill(clip_cache_dir: Path, tmp_path: Path) -> None:
    """A camera that dies (SIGKILL, clients connected) and comes back on the same port."""
    status_file = tmp_path / "sim.json"
    procs: list[subprocess.Popen[Any]] = []
    try:
        port = port_outside_ephemeral_range()
        procs.append(
            start_simulator(clip_cache_dir, status_file, "--cameras", "1", "--port", str(port))
        )
        url = wait_for_status(procs[0], status_file)["cameras"][0]["main_url"]
        client = subprocess.Popen(
            [*record_cmd(url, tmp_path / "x.mp4", 30)[:-1], "-f", "null", "-"],
            stderr=subprocess.DEVNULL,
        )
        procs.append(client)
        time.sleep(1.0)
        procs[0].kill()
        procs[0].wait()
        client.wait(timeout=30)  # the client notices the camera is gone
        status_file.unlink()
        procs.append(
            start_simulator(clip_cache_dir, status_file, "--cameras", "1", "--port", str(port))
        )
        assert wait_for_status(procs[-1], status_file)["port"] == port
        done = ffprobe_stream(url)
        assert done.returncode == 0, done.stderr
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stderr:
                proc.stderr.close()


def test_cached_clip_is_reused_and_carries_the_index(clip_cache_dir: Path) -> None:
    import av

    spec = clips.sub_spec("CAM-01", duration_s=CLIP_SECONDS)
    path = clips.ensure_clip(spec, clip_cache_dir)
    mtime_ns = path.stat().st_mtime_ns
    assert clips.ensure_clip(spec, clip_cache_dir) == path
    assert path.stat().st_mtime_ns == mtime_ns
    assert not list(clip_cache_dir.glob(".*.tmp"))
    with av.open(str(path), format="h264") as container:
        got = [frameindex.decode_av_frame(f) for f in container.decode(video=0)]
    assert got == list(range(CLIP_FRAMES))


def test_a_source_on_the_first_cameras_only(clip_cache_dir: Path, tmp_path: Path) -> None:
    """`--source FILE --source-cameras 1`: camera 1 loops the file (here 1280x720), camera 2
    shows its test pattern (1920x1080): the demo's street cameras beside the others."""
    from guetteur.adapters.plates.synth import render_video

    source = tmp_path / "street.h264"
    render_video(source, 4, size=(1280, 720), vehicles=[], seed=1, preset="ultrafast")
    status_file = tmp_path / "sim.json"
    proc = start_simulator(clip_cache_dir, status_file, "--cameras", "2", "--source",
                           str(source), "--source-cameras", "1")
    try:
        status = wait_for_status(proc, status_file)
        sizes = []
        for cam in status["cameras"]:
            done = ffprobe_stream(cam["main_url"])
            assert done.returncode == 0, done.stderr
            stream = json.loads(done.stdout)["streams"][0]
            sizes.append((stream["width"], stream["height"]))
        assert sizes == [(1280, 720), (1920, 1080)]
    finally:
        assert stop_simulator(proc) == 0
