"""Client-side rate limiting and the parsing of CRM rate-limit answers, shared by the remote adapters.

A CRM that answers 429 has already refused work; staying under its published limit (HubSpot private apps:
190 requests per 10 s) costs nothing and keeps the partition moving. The limiter is a sliding window rather than
a token bucket because CRM limits are counted per window: a bucket refilled continuously can still put more than
``max_calls`` requests into one of the CRM's windows.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

from peerscore.events import utcnow


class LimiterBusy(Exception):
    """The next call is allowed only after more than the caller's ``max_wait_s``."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"rate limiter busy for {wait_s:.1f}s")
        self.wait_s = wait_s


class SlidingWindowLimiter:
    """At most ``max_calls`` acquisitions in any ``period_s`` window; thread-safe, shared by all calls of a client."""

    def __init__(
        self,
        max_calls: int,
        period_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_calls < 1 or period_s <= 0:
            raise ValueError("rate limit needs max_calls >= 1 and period_s > 0")
        self.max_calls = max_calls
        self.period_s = period_s
        self._clock = clock
        self._sleep = sleep
        self._calls: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self._observers: list[Callable[[float], None]] = []

    def observe(self, observer: Callable[[float], None]) -> None:
        """Call ``observer`` with the seconds each acquisition waited (0.0 included, so the count is the number of
        calls): operators see client-side throttling in metrics, which the CRM never reports."""
        self._observers.append(observer)

    def acquire(self, max_wait_s: float | None = None) -> float:
        """Block until a call is allowed; returns the seconds waited (also reported to the observers).

        With ``max_wait_s``, raise :class:`LimiterBusy` instead of waiting longer than that in total: a caller
        that must answer quickly (a webhook) prefers failing fast to holding its sender past its timeout.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._calls and now - self._calls[0] >= self.period_s:
                    self._calls.popleft()
                wait = max(self._paused_until - now, 0.0)
                if not wait and len(self._calls) >= self.max_calls:
                    wait = self.period_s - (now - self._calls[0])
                if wait <= 0:
                    self._calls.append(now)
                    break
            if max_wait_s is not None and waited + wait > max_wait_s:
                self._report(waited)
                raise LimiterBusy(waited + wait)
            self._sleep(wait)
            waited += wait
        self._report(waited)
        return waited

    def _report(self, waited: float) -> None:
        for observer in self._observers:
            observer(waited)

    def pause(self, seconds: float) -> None:
        """The CRM said to slow down (429, or no requests remaining in its window): nobody calls for ``seconds``."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


def retry_after_seconds(headers: Mapping[str, str] | None, default: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), else HubSpot's window length, else ``default``."""
    if not headers:
        return default
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                return max((parsedate_to_datetime(value) - utcnow()).total_seconds(), 0.0)
            except (TypeError, ValueError):
                pass
    interval_ms = lowered.get("x-hubspot-ratelimit-interval-milliseconds")
    if interval_ms and interval_ms.isdigit():
        return int(interval_ms) / 1000
    return default
