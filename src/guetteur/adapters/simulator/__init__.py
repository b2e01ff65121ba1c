"""Simulated cameras: real RTSP/H.264 servers for the demo, the tests and the benchmarks.

Modules:
- ``clips``: encode (once, with ffmpeg/libx264) and cache the looping clips of a camera;
- ``frameindex``: the machine-readable frame index burnt into every clip, and its reader;
- ``annexb``: split a raw H.264 stream into access units;
- ``server``: one GStreamer RTSP server serving many cameras with no encoding at serve time;
- ``runner``: ``run(...)``, the entry point behind ``python -m guetteur.adapters.simulator``.

Importing this package never imports GStreamer (``gi``); only starting a server does.
"""

from guetteur.adapters.simulator.runner import run

__all__ = ["run"]
