"""The retry budget: how long one lead version may keep a partition waiting before it is dead-lettered.

Transient CRM failures pause the partition (order per lead is kept, nothing is skipped), but an outage longer
than the budget must not stop every other lead behind it forever: once a version has failed ``max_attempts``
times or for ``max_elapsed_s``, it goes to the CRM dead-letter topic and the partition moves on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, delete, select

from peerscore.crm_sync.adapters.base import SyncResult
from peerscore.crm_sync.models import RetryState


@dataclass(frozen=True)
class RetryBudget:
    max_attempts: int = 8
    max_elapsed_s: float = 600.0

    def exhausted(self, state: RetryState, now: datetime) -> bool:
        elapsed = (now - state.first_failed_at).total_seconds()
        return state.attempts >= self.max_attempts or elapsed >= self.max_elapsed_s


def charge(session: Session, crm: str, failed: Sequence[SyncResult], now: datetime) -> dict[str, RetryState]:
    """Count one more attempt per failed lead version (a newer version starts a fresh budget)."""
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
