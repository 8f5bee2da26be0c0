"""Local HTTP servers that behave like the CRMs' documented APIs, strictly: batch limits, auth, 207/per-record
errors, 429 with Retry-After and the HubSpot rate-limit headers, 5xx and slow answers on demand.

Adapters reach them through the real SDKs (``hubspot-api-client`` via ``Configuration.host``; ``simple-salesforce``
over HTTPS with a trustme certificate, since it always builds ``https://`` URLs). Shared by unit, integration tests
and ``bench/crm.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HUBSPOT_TOKEN = "pat-na1-test-token"
SALESFORCE_SESSION = "00Dtest!session"
WEBHOOK_SECRET = b"whsec-test-7c1e"


@dataclass
class Fault:
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay_s: float = 0.0


@dataclass
class ServerState:
    """What the fake CRM holds and how it misbehaves; every field is guarded by ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: deque[Fault] = field(default_factory=deque)
    refuse: Callable[[], Fault | None] | None = None
    rejected: dict[str, str] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    accepted: list[tuple[str, str]] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    requests: list[float] = field(default_factory=list)
    rate_limit: tuple[int, float] | None = None
    throttled: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    """The rate limit's time: a simulated clock lets a test run hours of throttling in seconds."""

    def next_fault(self) -> Fault | None:
        with self.lock:
            if self.faults:
                return self.faults.popleft()
        return self.refuse() if self.refuse is not None else None

    def over_limit(self) -> bool:
        """Server-side sliding window, like the CRM's own; counts every request."""
        with self.lock:
            now = self.clock()
            self.requests.append(now)
            if self.rate_limit is None:
                return False
            calls, window = self.rate_limit
            recent = [t for t in self.requests if now - t < window]
            self.requests = recent
            if len(recent) > calls:
                self.throttled += 1
                return True
            return False


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    """Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK (40 ms a
    response on a kept-alive connection: 250 webhook posts took 11 s instead of 0.5 s)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if status == 204 else body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self) -> None:
        body = self._body()
        fault = self.server.state.next_fault()
        if fault is not None:
            time.sleep(fault.delay_s)
            self.reply(fault.status, fault.body if fault.body is not None else {"message": "injected"}, fault.headers)
            return
        self.server.route(self, body)

    do_POST = do_PATCH = do_GET = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, route: Callable[[_Handler, bytes], None], state: ServerState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.route = route
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and hung up is what the slow-answer faults are for; stay quiet about it."""


class FakeServer:
    """Starts ``route`` on a free 127.0.0.1 port in a thread; ``ssl_context`` makes it HTTPS."""

    def __init__(self, route: Callable[[_Handler, bytes], None], ssl_context: Any = None) -> None:
        self.state = ServerState()
        self._server = _Server(route, self.state)
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
