"""Server-side state of console sign-ins: revoked sessions, and a small per-client limit on sign-in attempts.

Sessions are signed cookies, so signing out must be remembered server-side or a copied cookie keeps working for
the rest of its lifetime. Revoked session nonces live in the scoring database (``console_revoked_session``),
shared by every scoring replica, until the session would have expired anyway. The sign-in limiter is in memory
per process: it only has to make guessing the admin token slow, and a few replicas multiply it by a few.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine, delete
from sqlmodel import Session

from peerscore.scoring.models import ConsoleRevokedSessionRow


class Revocations(Protocol):
    def revoke(self, nonce: str, until: datetime) -> None: ...

    def is_revoked(self, nonce: str) -> bool: ...


class MemoryRevocations:
    """For tests and dev-open consoles without a database at hand (one process only)."""

    def __init__(self) -> None:
        self._revoked: dict[str, datetime] = {}

    def revoke(self, nonce: str, until: datetime) -> None:
        self._revoked[nonce] = until

    def is_revoked(self, nonce: str) -> bool:
        return nonce in self._revoked


class DatabaseRevocations:
    """Revocations every replica sees; expired ones are dropped when a new one is written. ``engine`` is asked
    per use: the app opens its engine in the lifespan, after the console is built."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self._engine = engine

    def revoke(self, nonce: str, until: datetime) -> None:
        with Session(self._engine()) as session, session.begin():
            session.exec(delete(ConsoleRevokedSessionRow).where(ConsoleRevokedSessionRow.expires_at < _now()))  # type: ignore[arg-type]
            if session.get(ConsoleRevokedSessionRow, nonce) is None:
                session.add(ConsoleRevokedSessionRow(nonce=nonce, expires_at=until))

    def is_revoked(self, nonce: str) -> bool:
        with Session(self._engine()) as session:
            return session.get(ConsoleRevokedSessionRow, nonce) is not None


def _now() -> datetime:
    return datetime.now(UTC)


class LoginLimiter:
    """A token bucket per client address: ``burst`` attempts at once, then one every ``refill_s`` seconds."""

    def __init__(
        self,
        *,
        burst: int = 5,
        refill_s: float = 12.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst, self._refill_s, self._max_clients, self._clock = burst, refill_s, max_clients, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """0 when this attempt may go ahead, else the seconds until the next one may."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self._burst), now))
            tokens = min(float(self._burst), tokens + (now - last) / self._refill_s)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return (1 - tokens) * self._refill_s
            if len(self._buckets) >= self._max_clients and client not in self._buckets:
                self._forget_full_buckets(now)
            self._buckets[client] = (tokens - 1, now)
            return 0.0

    def _forget_full_buckets(self, now: float) -> None:
        """Clients whose bucket has refilled are indistinguishable from new ones: drop them to bound memory."""
        full_after = self._burst * self._refill_s
        self._buckets = {c: (t, at) for c, (t, at) in self._buckets.items() if now - at < full_after}
