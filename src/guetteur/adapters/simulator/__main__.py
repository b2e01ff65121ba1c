"""``python -m guetteur.adapters.simulator``: serve simulated RTSP cameras until stopped.

Responsibility: parse the command line and call ``runner.run``; nothing else. Exit status 0
after SIGTERM/SIGINT, 2 on bad options, 1 when it cannot start (port taken, ffmpeg failed).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from guetteur.adapters.simulator import clips, runner, server


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m guetteur.adapters.simulator",
        description="Serve simulated H.264 cameras over RTSP (/cam{i}/main and /cam{i}/sub).",
    )
    p.add_argument("--cameras", type=int, default=4, help="number of cameras (default 4)")
    p.add_argument(
        "--port",
        type=int,
        default=runner.DEFAULT_PORT,
        help="RTSP port (default 8554; 0 picks a free one, see the status file)",
    )
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("var/simcache"),
        help="where encoded clips are kept between runs",
    )
    p.add_argument(
        "--name",
        dest="names",
        action="append",
        metavar="NAME",
        help="camera name, once per camera in order (default CAM-01, CAM-02, ...)",
    )
    p.add_argument("--user", help="RTSP user (with --password; default: no authentication)")
    p.add_argument(
        "--password", help="RTSP password (default: env GUETTEUR_SIM_PASSWORD when --user is set)"
    )
    p.add_argument(
        "--auth",
        dest="auth_method",
        choices=server.AUTH_METHODS,
        default="digest",
        help="RTSP authentication scheme when a user is set (default digest)",
    )
    p.add_argument(
        "--clip-seconds",
        type=int,
        default=clips.DEFAULT_DURATION_S,
        help="clip length before it loops, a multiple of 2 (default 10)",
    )
    p.add_argument(
        "--preset",
        choices=clips.PRESETS,
        default=clips.DEFAULT_PRESET,
        help="x264 preset used once to encode the clips (default veryfast)",
    )
    p.add_argument(
        "--shared-clip",
        action="store_true",
        help="all cameras stream the same clip (one encode; for many cameras)",
    )
    p.add_argument(
        "--source",
        type=Path,
        metavar="FILE",
        help="loop this raw Annex-B H.264 file on every camera's main stream instead of the "
        "test pattern (e.g. a video of python -m guetteur.adapters.plates.synth); the sub "
        "stream is a 640x360 copy encoded once; --clip-seconds and --shared-clip do not apply",
    )
    p.add_argument(
        "--source-cameras",
        type=int,
        metavar="N",
        help="with --source: only the first N cameras loop it, the others show the test pattern",
    )
    p.add_argument("--status-file", type=Path, help="JSON file written once the server is up")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING ...")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.user is not None and args.password is None:
        args.password = os.environ.get("GUETTEUR_SIM_PASSWORD")
    if (args.user is None) != (args.password is None):
        print("error: give both --user and --password, or neither", file=sys.stderr)
        return 2
    try:
        runner.run(
            cameras=args.cameras,
            port=args.port,
            cache_dir=args.cache_dir,
            names=args.names,
            user=args.user,
            password=args.password,
            clip_seconds=args.clip_seconds,
            shared_clip=args.shared_clip,
            status_file=args.status_file,
            bind=args.bind,
            preset=args.preset,
            auth_method=args.auth_method,
            source=args.source,
            source_cameras=args.source_cameras,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as exc:  # port taken, ffmpeg failed, clip unreadable
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
