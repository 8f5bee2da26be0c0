"""Process plumbing shared by the worker services: a consumer loop on a background thread owned by the app's
lifespan (uvicorn turns SIGTERM into lifespan shutdown, which drains the loop and commits), and a broker check."""

from __future__ import annotations

import socket
import threading
from typing import Any

import structlog

from peerscore.observability import ReadinessCheck

log = structlog.get_logger(__name__)


def broker_check(bootstrap_servers: str, timeout: float = 1.0) -> ReadinessCheck:
    """Ready when at least one bootstrap server accepts a TCP connection."""
    addresses = []
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        addresses.append((host.strip("[]") or "127.0.0.1", int(port)))

    def check() -> None:
        last: OSError | None = None
        for address in addresses:
            try:
                with socket.create_connection(address, timeout=timeout):
                    return
            except OSError as exc:
                last = exc
        raise last or OSError("no bootstrap servers")

    return check


class BackgroundLoop:
    """Runs ``loop.run()`` on a thread; ``stop`` drains the current batch, commits and joins."""

    def __init__(self, loop: Any, name: str) -> None:
        self._loop = loop
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self._loop.run()
        except BaseException as exc:  # surfaced through alive/readiness, and logged with its traceback
            self._error = exc
            log.exception("consumer_loop_crashed")

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def check(self) -> None:
        """Readiness: the loop thread is running."""
        if not self._thread.is_alive():
            raise RuntimeError("consumer loop is not running") from self._error

    def stop(self, timeout: float = 30.0) -> None:
        self._loop.stop()
        self._thread.join(timeout)
