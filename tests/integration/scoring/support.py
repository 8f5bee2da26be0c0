"""Realistic scoring input: generated buyer journeys pushed through the real ingest normaliser."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from peerscore.db import StoredOffset
from peerscore.dev.journeys import JourneyGenerator
from peerscore.events import EngagementEvent
from peerscore.ingest.normalise import normalise_batch
from peerscore.scoring.models import AccountActivityRow, LedgerRow, PersonRow

END = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SECRET = b"test-person-key-secret"


def journey_events(people: int, seed: int = 11) -> list[EngagementEvent]:
    calls = JourneyGenerator(seed=seed).calls(people, end=END)
    return normalise_batch({"batch": calls}, secret=SECRET, received_at=END)


def applied_count(engine: Engine, group: str) -> int:
    """Records whose effects are stored: the sum of next offsets (topics start empty at offset 0)."""
    with Session(engine) as session:
        rows = session.exec(select(StoredOffset).where(StoredOffset.consumer_group == group)).all()
        return sum(r.next_offset for r in rows)


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything the scoring worker derives, minus wall-clock columns."""
    with Session(engine) as session:
        people = {
            r.person_key: (r.version, r.qualified, r.total, r.state, r.score)
            for r in session.exec(select(PersonRow)).all()
        }
        ledger = sorted(
            (r.person_key, r.rule_id, r.group, r.event_id, round(r.points, 9), r.occurred_at.isoformat())
            for r in session.exec(select(LedgerRow).order_by(col(LedgerRow.id))).all()
        )
        activity = sorted(
            (r.account_key, r.person_key, r.last_active_at.isoformat())
            for r in session.exec(select(AccountActivityRow)).all()
        )
    return {"people": people, "ledger": ledger, "activity": activity}
