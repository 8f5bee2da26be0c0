"""Where training data comes from: scoring's own database (history + outcomes), or events in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from peerscore.events import EngagementEvent
from peerscore.scoring.backtest.period import Period
from peerscore.scoring.backtest.source import people_histories
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.identity.replay import PersonHistory
from peerscore.scoring.outcomes.store import load_outcomes


def group_by_person(events: Iterable[EngagementEvent]) -> list[PersonHistory]:
    """Events (in the order they were applied) grouped per person key, people in key order (no merges: events
    in memory carry no markers)."""
    people: dict[str, list[EngagementEvent]] = {}
    for event in events:
        people.setdefault(event.person_key, []).append(event)
    return [PersonHistory.single(key, events) for key, events in sorted(people.items())]


def history_span(engine: Engine) -> tuple[datetime, datetime] | None:
    """The first and last event time stored, or None when there is no history."""
    table = EventHistoryRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(table.c.occurred_at), func.max(table.c.occurred_at))).one()
    if first is None or last is None:
        return None
    return first, last


def stored_histories(engine: Engine, period: Period) -> Iterator[PersonHistory]:
    """Each canonical person's stored events in the order the worker applied them, with the keys merged into it
    (the backtest's reader)."""
    return people_histories(engine, period)


def stored_outcomes(engine: Engine) -> list[tuple[str, str, datetime]]:
    with Session(engine) as session:
        return load_outcomes(session)
