"""The retry budget: how long one lead version may keep a partition waiting before it is dead-lettered.

Transient CRM failures pause the partition (order per lead is kept, nothing is skipped), but an outage longer
than the budget must not stop every other lead behind it forever: once a version has been failing for
``max_elapsed_s`` (hours by default, as CDP destinations retry), it goes to the CRM dead-letter topic and the
partition moves on. The budget is *time*, not attempts, because attempts are spent in seconds by back-off while
real incidents last minutes to hours; ``max_attempts`` remains as an optional extra limit. Throttling (429,
``Retry-After``) is the CRM pacing the sender, not failing: it is never charged (see :func:`charge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session, col, delete, select

from peerscore.crm_sync.adapters.base import SyncResult
from peerscore.crm_sync.models import RetryState

DEFAULT_MAX_ELAPSED_S = 6 * 3600.0


class Charged(Protocol):
    """What the budget reads of a failing item: a CRM lead version's :class:`RetryState`, an alert's ledger row."""

    @property
    def attempts(self) -> int: ...

    @property
    def first_failed_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class RetryBudget:
    """``max_elapsed_s`` since a version first failed; ``max_attempts`` only when set; capped exponential back-off
    between attempts (``backoff_initial_s`` doubling up to ``backoff_max_s``)."""

    max_attempts: int | None = None
    max_elapsed_s: float = DEFAULT_MAX_ELAPSED_S
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0

    def exhausted(self, state: Charged, now: datetime) -> bool:
        first = state.first_failed_at
        elapsed = (now - first).total_seconds() if first is not None else 0.0
        over_attempts = self.max_attempts is not None and state.attempts >= self.max_attempts
        return over_attempts or elapsed >= self.max_elapsed_s

    def backoff_s(self, attempts: int) -> float:
        """The wait before the next attempt after ``attempts`` charged failures: doubles, never beyond the cap."""
        if attempts <= 0:
            return 0.0
        return min(self.backoff_initial_s * 2.0 ** min(attempts - 1, 60), self.backoff_max_s)


def charge(session: Session, crm: str, failed: Sequence[SyncResult], now: datetime) -> dict[str, RetryState]:
    """Count one more attempt per failed lead version (a newer version starts a fresh budget).

    Throttled results (the CRM said "slow down") are not failures: they are skipped and keep whatever budget the
    version already had."""
    failed = [r for r in failed if not r.throttled]
    keys = [r.person_key for r in failed]
    stored = {
        s.person_key: s
        for s in session.exec(
            select(RetryState).where(RetryState.crm == crm, col(RetryState.person_key).in_(keys))
        ).all()
    }
    states: dict[str, RetryState] = {}
    for r in failed:
        state = stored.get(r.person_key)
        message = (r.message or "retryable")[:2000]
        if state is None or state.version != r.version:
            if state is not None:
                session.delete(state)
                session.flush()
            state = RetryState(
                crm=crm, person_key=r.person_key, version=r.version, attempts=0, first_failed_at=now, last_error=""
            )
        state.attempts += 1
        state.last_error = message
        session.add(state)
        states[r.person_key] = state
    return states


def settle(session: Session, crm: str, keys: Sequence[str]) -> None:
    """Forget the budget of versions that are settled (synced, refused or dead-lettered)."""
    if keys:
        session.execute(delete(RetryState).where(col(RetryState.crm) == crm, col(RetryState.person_key).in_(keys)))
