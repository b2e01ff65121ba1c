"""Adapters: everything that talks to the outside world (database, files, ffmpeg, GStreamer)."""
