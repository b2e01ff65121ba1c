"""Guetteur: open-source video protection for a city's Urban Supervision Centre (CSU).

Layers (see ../shared/STYLE.md and docs/design/): `domain` holds pure rules and types and
imports nothing else of the package but itself; `services` hold use cases; `adapters` talk to
the outside world (database, files, ffmpeg, GStreamer); `web` is the HTTP layer; `bootstrap`
is the only place that wires them together.
"""

__version__ = "0.1.0"
