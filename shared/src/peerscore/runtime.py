"""Process plumbing shared by the worker services: a consumer loop on a background thread owned by the app's
lifespan (uvicorn turns SIGTERM into lifespan shutdown, which drains the loop and commits), a broker check, and
the garbage-collector settings their entry points apply.

Readiness of a loop means its thread runs *and* its consumer holds its share of the group's partitions (see
:mod:`peerscore.assignment`): every service that checks its ``BackgroundLoop`` answers ``/readyz`` 503 until the
group join completed, so nothing counts start-up as throughput."""

from __future__ import annotations

import gc
import socket
import threading
from typing import Any

import structlog

from peerscore.assignment import AssignmentState
from peerscore.observability import ReadinessCheck

log = structlog.get_logger(__name__)


WORKER_GC_THRESHOLDS = (50_000, 20, 100)
"""Young-generation threshold 50,000 allocations (CPython's default is 700): see :func:`tune_gc_for_throughput`."""


def tune_gc_for_throughput(thresholds: tuple[int, int, int] = WORKER_GC_THRESHOLDS) -> None:
    """Collect less often in a process that streams events: call once, after start-up, from an entry point.

    A worker allocates several short-lived objects per event (models, dicts, rows), so with CPython's default
    thresholds a collection runs every few events and the older generations are rescanned often, including
    everything start-up built (modules, the ruleset, caches), which never becomes garbage. ``gc.freeze`` moves
    what exists now out of every later scan, and a larger first threshold collects young objects in bigger,
    rarer passes. Reference cycles are still collected; the extra memory is bounded by the threshold. On the
    scoring handler this cut the time per event by about a quarter (see ``bench/scoring.py`` and the README).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


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

    @property
    def assignment(self) -> AssignmentState | None:
        """The loop's assignment state, when it keeps one (every :class:`peerscore.consumer.ConsumerLoop` does)."""
        state = getattr(self._loop, "assignment", None)
        return state if isinstance(state, AssignmentState) else None

    def check(self) -> None:
        """Readiness: the loop thread is running and its consumer was assigned its share of the partitions."""
        if not self._thread.is_alive():
            raise RuntimeError("consumer loop is not running") from self._error
        if self.assignment is not None:
            self.assignment.check()

    def stop(self, timeout: float = 30.0) -> None:
        self._loop.stop()
        self._thread.join(timeout)
