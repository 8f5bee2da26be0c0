"""The circuit breaker in front of a CRM: while it is down, the partition pauses instead of burning calls.

A CRM that refuses every call (connection refused, timeouts, 5xx on the whole batch) is having an outage; calling
it again at once only adds load and log noise. After ``failures_to_open`` such calls in a row (one failed call can
be a lone lead's bad luck) the breaker opens for a delay that doubles with every further one, up to a cap. While
open the worker makes no call at all and waits; once the delay has passed one call probes. A call that takes
anything (or only throttles, which is pacing, not an outage) closes it. Pure: the worker keeps the state and asks
these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from peerscore.crm_sync.adapters.base import SyncResult


@dataclass(frozen=True)
class BreakerPolicy:
    failures_to_open: int = 3
    open_initial_s: float = 5.0
    open_max_s: float = 300.0


@dataclass(frozen=True)
class BreakerState:
    """``outages``: consecutive calls that failed as a whole; ``open_until``: no call before this instant."""

    outages: int = 0
    open_until: datetime | None = None


CLOSED = BreakerState()


def is_outage(results: Sequence[SyncResult]) -> bool:
    """The call as a whole failed for the CRM's reasons: every lead retryable and none merely throttled."""
    return bool(results) and all(r.outcome == "retryable" and not r.throttled for r in results)


def after_call(
    state: BreakerState, results: Sequence[SyncResult], policy: BreakerPolicy, now: datetime
) -> BreakerState:
    """The breaker after a call: opened for a growing delay on an outage, closed otherwise."""
    if not results:
        return state
    if not is_outage(results):
        return CLOSED
    outages = state.outages + 1
    if outages < policy.failures_to_open:
        return BreakerState(outages)
    delay = min(policy.open_initial_s * 2.0 ** min(outages - policy.failures_to_open, 60), policy.open_max_s)
    return BreakerState(outages, now + timedelta(seconds=delay))


def wait_s(state: BreakerState, now: datetime) -> float:
    """Seconds before the next call may go out (0: closed, or the probe is due)."""
    if state.open_until is None:
        return 0.0
    return max((state.open_until - now).total_seconds(), 0.0)
