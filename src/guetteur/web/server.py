"""Running the web server (uvicorn) around a container, with a clean shutdown on SIGTERM or
Ctrl-C: uvicorn stops accepting, then the lifespan stops the recorders and drains the writer."""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys

import uvicorn

from guetteur.bootstrap import Container
from guetteur.web.app import create_app

log = logging.getLogger(__name__)


def run_server(container: Container) -> None:
    s = container.settings
    app = create_app(container)
    # The client address goes into the audit trail and the login rate limit: X-Forwarded-For
    # is only believed from the proxies named in the settings.
    proxies = s.trusted_proxies.strip()
    config = uvicorn.Config(app, host=s.http_host, port=s.http_port, log_level="warning",
                            ws_max_size=1 << 20, timeout_graceful_shutdown=5,
                            proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)
    # `kill -USR1 PID` writes every thread's stack to the log: what a stuck shutdown waits on
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    log.info("Guetteur listening on http://%s:%d", s.http_host, s.http_port)
    try:
        uvicorn.Server(config).run()
    finally:
        container.close()
