"""uvicorn serving the service's app on a background thread, so the main thread keeps the signals."""

from __future__ import annotations

import logging
import threading
import time

import uvicorn
from starlette.applications import Starlette

__all__ = ["HttpServer"]

log = logging.getLogger(__name__)


class HttpServer:
    """Serve ``app`` on ``host:port`` (0: any free port) until ``stop``.

    uvicorn only installs signal handlers on the main thread; running it on its own
    thread leaves SIGTERM, SIGINT and SIGHUP to the service, which stops the scheduler
    and the server in order.
    """

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="syncwatch-http", daemon=True)
        self.host = host
        self.port = port

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; return once the socket is bound (raise if it could not be)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise OSError(f"could not serve HTTP on {self.host}:{self.port} (is the port in use?)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"HTTP server on {self.host}:{self.port} did not start within {timeout:g} s")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("serving http://%s:%d/", self.host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
