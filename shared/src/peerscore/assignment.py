"""What a consumer group member holds, as readiness sees it: fed by the consumer loop's rebalance listener, read
by ``/readyz`` on another thread.

Why readiness waits for this: a worker whose HTTP server answers but whose consumer has not joined its group yet
processes nothing, and the join takes seconds (about half the session timeout on Tansu). Declaring such a
process ready made ``make run``, the end-to-end bench and Kubernetes rollouts count a start-up as throughput.

What "ready" means here (what an operator can rely on):

* **Not ready until the first assignment**: the consumer subscribed but the group join has not completed.
* **Ready once the group assigned this member its share — even an empty one.** A group with more members than
  partitions leaves some members idle; they are hot standbys that take partitions over at the next rebalance.
  Holding them unready would block every rollout of a deployment scaled past the partition count (Kubernetes
  counts unready pods against ``maxUnavailable``) and would page for a healthy, intentional configuration.
  How many partitions a member holds is reported in the check's detail and in the logs.
* **Not ready while a rebalance is under way**: an eager rebalance (kafka-python's default protocol, used by the
  loop) revokes everything, then assigns anew; in between the member holds nothing. The chart's readiness
  probe tolerates a few failed probes so that an ordinary rebalance does not take the API out of its Service,
  while a member stuck out of its group for good does go unready.
* **Not ready after the member was evicted** (``on_partitions_lost``: session expired, fenced) until it rejoins.

A cooperative partial revocation (the member keeps some partitions) leaves it ready; a revocation of
everything it held reads as a rebalance until the next assignment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class AwaitingGroupJoin(RuntimeError):
    """The consumer subscribed and has not been assigned partitions yet (the first group join is under way)."""


class Rebalancing(RuntimeError):
    """The consumer gave up its partitions for a rebalance (or was evicted) and awaits its new share."""


@dataclass(frozen=True)
class Snapshot:
    """One consistent reading of the state, for checks and tests."""

    joined: bool
    rebalancing: bool
    partitions: frozenset[Any]
    assignments: int
    """How many assignments this member received since the loop started (1 after the first join)."""
    since_s: float | None
    """Seconds since the last assignment, or None before the first."""


class AssignmentState:
    """Thread-safe record of one consumer's assignment. ``assigned``/``revoked``/``lost`` are called by the
    rebalance listener on the consumer's thread; ``check`` is a readiness check (raises when not ready)."""

    def __init__(self, name: str = "consumer", clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._partitions: frozenset[Any] = frozenset()
        self._assignments = 0
        self._rebalancing = False
        self._assigned_at: float | None = None

    def assigned(self, partitions: Iterable[Any]) -> None:
        """The group join completed: ``partitions`` are (added to) this member's share, possibly none."""
        with self._lock:
            self._partitions = self._partitions | frozenset(partitions)
            self._assignments += 1
            self._rebalancing = False
            self._assigned_at = self._clock()
            held = len(self._partitions)
        log.info("consumer_assignment", consumer=self.name, partitions=held)

    def revoked(self, partitions: Iterable[Any]) -> None:
        """Partitions given up for a rebalance; giving up everything held means a new share is awaited."""
        gone = frozenset(partitions)
        with self._lock:
            everything = bool(self._partitions) and self._partitions <= gone
            self._partitions = self._partitions - gone
            if everything or not gone:
                self._rebalancing = self._assignments > 0
        log.info("consumer_revoked", consumer=self.name, partitions=len(gone))

    def lost(self, partitions: Iterable[Any]) -> None:
        """Evicted from the group: nothing is held until the member rejoins."""
        with self._lock:
            self._partitions = frozenset()
            self._rebalancing = self._assignments > 0
        log.warning("consumer_partitions_lost", consumer=self.name, partitions=len(frozenset(partitions)))

    def snapshot(self) -> Snapshot:
        with self._lock:
            since = None if self._assigned_at is None else self._clock() - self._assigned_at
            return Snapshot(
                joined=self._assignments > 0,
                rebalancing=self._rebalancing,
                partitions=self._partitions,
                assignments=self._assignments,
                since_s=since,
            )

    def check(self) -> None:
        """Readiness: raises :class:`AwaitingGroupJoin` or :class:`Rebalancing`; returns once a share is held."""
        state = self.snapshot()
        if not state.joined:
            raise AwaitingGroupJoin(f"{self.name}: group join under way")
        if state.rebalancing:
            raise Rebalancing(f"{self.name}: rebalancing, no partitions held")

    @property
    def ready(self) -> bool:
        try:
            self.check()
        except RuntimeError:
            return False
        return True
