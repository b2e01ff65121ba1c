"""One GStreamer RTSP server process that serves N simulated cameras from pre-encoded clips.

Responsibility: mount ``/cam{i}/main`` and ``/cam{i}/sub`` (i from 1) on one port and stream
each clip in a loop, in real time, with no encoding at serve time: every clip is split once into
access units held in memory (``annexb.py``) and each mount's pipeline is
``appsrc ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1``.

Invariants:
- clips are read once at start and shared by every mount that streams them (``shared_clip``:
  one copy in memory for all cameras; otherwise ~5.5 MB per camera for a 10 s clip pair);
- media are shared per mount: any number of clients of one stream cost one pipeline; a
  pipeline exists only while it has clients (GstRtspServer unprepares it when the last one
  sends TEARDOWN or drops its connection, and the next client gets a fresh one), so idle
  cameras cost no CPU;
- one pacer on the main loop pushes frame ``k`` of a pipeline when ``k * 40 ms`` of wall time
  have passed since that pipeline started; its timestamps (pts = dts = ``k * 40 ms``) increase
  forever across loops, and a fresh pipeline starts at frame 0 of the clip, a keyframe;
- GStreamer (``gi``) is imported only inside functions, so importing this module never needs
  it; credentials never leave the process (the status file lists URLs without them).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guetteur.adapters.simulator import annexb

log = logging.getLogger(__name__)

FRAME_NS = 40_000_000  # 25 fps
PACER_PERIOD_MS = 20
# A pipeline more than this far behind (main loop stalled) skips ahead instead of bursting.
MAX_LAG_FRAMES = 25
SESSION_CLEANUP_PERIOD_S = 2
AUTH_METHODS = ("digest", "basic")
_ROLE = "user"
_LAUNCH = (
    "( appsrc name=src is-live=true format=time do-timestamp=false block=false "
    "max-bytes=8000000 leaky-type=upstream "
    "caps=video/x-h264,stream-format=byte-stream,alignment=au,framerate=25/1 "
    "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)


@dataclass(frozen=True)
class CameraMount:
    """One simulated camera: its name, its number (1-based) and its two clips."""

    name: str
    number: int
    main_clip: Path
    sub_clip: Path

    def path(self, stream: str) -> str:
        return f"/cam{self.number}/{stream}"


def load_gst() -> tuple[Any, Any, Any, Any, Any]:
    """Import GStreamer lazily: (Gst, GstApp, GstRtsp, GstRtspServer, GLib), initialised."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstApp", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer

    Gst.init(None)
    return Gst, GstApp, GstRtsp, GstRtspServer, GLib


class _Clip:
    """Access units of one clip file, each wrapped once in an immutable ``GLib.Bytes``."""

    def __init__(self, path: Path, glib: Any) -> None:
        units = annexb.split_access_units(path.read_bytes())
        if not annexb.is_keyframe(units[0]):
            raise ValueError(f"{path} does not start with a keyframe")
        self.units = [glib.Bytes.new(u) for u in units]
        self.path = path


class _Feed:
    """One prepared pipeline being fed: its appsrc and the next frame to push."""

    def __init__(self, label: str, appsrc: Any, clip: _Clip) -> None:
        self.label = label
        self.appsrc = appsrc
        self.clip = clip
        self.frame_no = 0
        self.t0_ns: int | None = None


class _Pacer:
    """Pushes due frames into every live feed from one timer on the main loop; the timer runs
    only while there is at least one feed, so an idle server does not wake up.

    Feeds come and go from GStreamer's threads (media-configure, unprepared) while the timer
    runs on the main loop: one lock guards the set of feeds and every push."""

    def __init__(self, gst: Any, glib: Any) -> None:
        self._gst = gst
        self._glib = glib
        self._lock = threading.Lock()
        self._feeds: set[_Feed] = set()
        self._source_id: int | None = None

    def stop(self) -> None:
        with self._lock:
            if self._source_id is not None:
                self._glib.source_remove(self._source_id)
                self._source_id = None
            self._feeds.clear()

    def add(self, feed: _Feed) -> None:
        """Start feeding: frame 0 is pushed now, so the new pipeline can be prepared."""
        with self._lock:
            self._feeds.add(feed)
            self._push_due(feed, self._glib.get_monotonic_time() * 1000)
            if self._source_id is None:
                self._source_id = self._glib.timeout_add(PACER_PERIOD_MS, self._tick)

    def remove(self, feed: _Feed) -> None:
        with self._lock:
            self._feeds.discard(feed)

    def _tick(self) -> bool:
        with self._lock:
            now_ns = self._glib.get_monotonic_time() * 1000
            for feed in list(self._feeds):
                self._push_due(feed, now_ns)
            if not self._feeds:
                self._source_id = None
                return False  # removes the timer; the next add() starts it again
            return True

    def _push_due(self, feed: _Feed, now_ns: int) -> None:
        gst = self._gst
        if feed.t0_ns is None:
            feed.t0_ns = now_ns
            log.debug("%s: frame 0 at CLOCK_MONOTONIC %d ns", feed.label, now_ns)
        due = (now_ns - feed.t0_ns) // FRAME_NS + 1
        if due - feed.frame_no > MAX_LAG_FRAMES:
            feed.t0_ns += (due - feed.frame_no - 1) * FRAME_NS  # keep the rate, drop the burst
            due = feed.frame_no + 1
        units = feed.clip.units
        while feed.frame_no < due:
            buf = gst.Buffer.new_wrapped_bytes(units[feed.frame_no % len(units)])
            buf.pts = buf.dts = feed.frame_no * FRAME_NS
            buf.duration = FRAME_NS
            flow = feed.appsrc.push_buffer(buf)
            if flow != gst.FlowReturn.OK:
                log.debug("%s: push returned %s, feed stopped", feed.label, flow)
                self._feeds.discard(feed)
                return
            feed.frame_no += 1


class SimulatorServer:
    """The RTSP server of the simulated cameras; lives on the GLib main loop of its process."""

    def __init__(
        self,
        cameras: list[CameraMount],
        port: int = 8554,
        bind: str = "127.0.0.1",
        user: str | None = None,
        password: str | None = None,
        auth_method: str = "digest",
    ) -> None:
        if (user is None) != (password is None):
            raise ValueError("give both a user and a password, or neither")
        if auth_method not in AUTH_METHODS:
            raise ValueError(f"auth method must be one of {AUTH_METHODS}, not {auth_method!r}")
        self.cameras = cameras
        self.port = port
        self.bind = bind
        self._user = user
        self._password = password
        self._auth_method = auth_method
        # GstApp is loaded so that get_by_name("src") returns an AppSrc with push_buffer().
        self._gst, _gst_app, self._gst_rtsp, self._rtsp, self._glib = load_gst()
        self._clips: dict[Path, _Clip] = {}  # filled by start(), read-only afterwards
        self._pacer = _Pacer(self._gst, self._glib)
        self._server: Any = None
        self._source_ids: list[int] = []

    def start(self) -> int:
        """Bind and start serving on the default main context; returns the bound port."""
        rtsp = self._rtsp
        for cam in self.cameras:  # read every clip once, before accepting clients: fail fast
            for path in (cam.main_clip, cam.sub_clip):
                if path not in self._clips:
                    self._clips[path] = _Clip(path, self._glib)
        server = rtsp.RTSPServer()
        server.set_address(self.bind)
        server.set_service(str(self.port))
        permissions = self._configure_auth(server)
        mounts = server.get_mount_points()
        for cam in self.cameras:
            for stream, clip_path in (("main", cam.main_clip), ("sub", cam.sub_clip)):
                factory = rtsp.RTSPMediaFactory()
                factory.set_launch(_LAUNCH)
                factory.set_shared(True)
                if permissions is not None:
                    factory.set_permissions(permissions)
                label = f"{cam.name}/{stream}"
                factory.connect("media-configure", self._on_media_configure, label, clip_path)
                mounts.add_factory(cam.path(stream), factory)
        attached_id = server.attach(None)
        if attached_id == 0:
            raise OSError(f"cannot listen for RTSP on {self.bind}:{self.port}")
        self._source_ids.append(attached_id)  # removing it closes the listening socket
        self._server = server
        self.port = server.get_bound_port()
        self._source_ids.append(
            self._glib.timeout_add_seconds(SESSION_CLEANUP_PERIOD_S, self._cleanup_sessions)
        )
        log.info(
            "RTSP simulator listening on %s:%d, %d cameras", self.bind, self.port, len(self.cameras)
        )
        return int(self.port)

    def _configure_auth(self, server: Any) -> Any:
        """Install credentials when a user is set; returns the factories' permissions."""
        if self._user is None:
            return None
        rtsp = self._rtsp
        auth = rtsp.RTSPAuth()
        token = rtsp.RTSPToken()
        token.set_string(rtsp.RTSP_TOKEN_MEDIA_FACTORY_ROLE, _ROLE)
        if self._auth_method == "digest":
            auth.add_digest(self._user, self._password, token)
            auth.set_supported_methods(self._gst_rtsp.RTSPAuthMethod.DIGEST)
        else:
            auth.add_basic(rtsp.RTSPAuth.make_basic(self._user, self._password), token)
            auth.set_supported_methods(self._gst_rtsp.RTSPAuthMethod.BASIC)
        auth.set_realm("guetteur-simulator")
        server.set_auth(auth)
        permissions = rtsp.RTSPPermissions()
        permissions.add_permission_for_role(_ROLE, rtsp.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role(_ROLE, rtsp.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        return permissions

    def _on_media_configure(self, _factory: Any, media: Any, label: str, clip_path: Path) -> None:
        appsrc = media.get_element().get_by_name("src")
        feed = _Feed(label, appsrc, self._clips[clip_path])
        media.connect("unprepared", self._on_media_unprepared, feed)
        log.debug("%s: pipeline configured", label)
        self._pacer.add(feed)

    def _on_media_unprepared(self, _media: Any, feed: _Feed) -> None:
        log.debug("%s: pipeline unprepared", feed.label)
        self._pacer.remove(feed)

    def _cleanup_sessions(self) -> bool:
        if self._server is not None:
            self._server.get_session_pool().cleanup()
        return True

    def run_until_signal(self, on_ready: Callable[[], None] | None = None) -> None:
        """Run the main loop until SIGTERM or SIGINT; ``on_ready()`` runs once the signal
        handlers are installed, just before the loop."""
        glib = self._glib
        loop = glib.MainLoop()

        def quit_loop(signum: int) -> bool:
            log.info("signal %d: stopping the RTSP simulator", signum)
            loop.quit()
            return True  # stays installed until close() removes it

        for signum in (signal.SIGTERM, signal.SIGINT):
            self._source_ids.append(
                glib.unix_signal_add(glib.PRIORITY_HIGH, signum, quit_loop, signum)
            )
        try:
            if on_ready is not None:
                on_ready()  # already listening: early clients wait in the accept backlog
            loop.run()
        finally:
            self.close()

    def close(self) -> None:
        """Stop pushing and remove this server's main-loop sources."""
        self._pacer.stop()
        for source_id in self._source_ids:
            self._glib.source_remove(source_id)
        self._source_ids.clear()
