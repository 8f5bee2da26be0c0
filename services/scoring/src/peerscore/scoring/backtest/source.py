"""Reading the event history for a replay: plain tuples streamed in chunks, never ORM objects.

A million ORM rows would cost more than the scoring itself; ``select(table.c…)`` with ``yield_per`` streams
``(person_key, event_json)`` in the order the worker applied them: per person, by topic, partition and offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, func, select

from peerscore.events import EngagementEvent, parse_event
from peerscore.scoring.backtest.period import Period
from peerscore.scoring.history import EventHistoryRow

CHUNK_ROWS = 5_000
_history = EventHistoryRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class KeyRange:
    """People whose keys fall in ``[first, last]`` and how many events they have in the period."""

    first: str
    last: str
    events: int


def _in_period(query: Select[Any], period: Period) -> Select[Any]:
    if period.since is not None:
        query = query.where(_history.c.occurred_at >= period.since)
    if period.until is not None:
        query = query.where(_history.c.occurred_at < period.until)
    return query


def key_ranges(engine: Engine, period: Period, parts: int) -> list[KeyRange]:
    """Split the period's people into at most ``parts`` contiguous key ranges of about equal event counts.

    Ranges never split a person, so each can be folded independently (another process, another time).
    """
    query = _in_period(select(_history.c.person_key, func.count()), period)
    with engine.connect() as conn:
        counts = conn.execute(query.group_by(_history.c.person_key).order_by(_history.c.person_key)).all()
    total = sum(n for _, n in counts)
    if not counts:
        return []
    target = max(1, -(-total // max(1, parts)))
    ranges: list[KeyRange] = []
    first, size = counts[0][0], 0
    for i, (key, n) in enumerate(counts):
        size += n
        if size >= target or i == len(counts) - 1:
            ranges.append(KeyRange(first, key, size))
            if i + 1 < len(counts):
                first, size = counts[i + 1][0], 0
    return ranges


def people_events(
    engine: Engine, period: Period, keys: KeyRange | None = None, chunk_rows: int = CHUNK_ROWS
) -> Iterator[tuple[str, list[EngagementEvent]]]:
    """``(person_key, events in applied order)`` for each person in ``keys`` (all people when ``None``)."""
    query = _in_period(select(_history.c.person_key, _history.c.event), period)
    if keys is not None:
        query = query.where(_history.c.person_key >= keys.first, _history.c.person_key <= keys.last)
    query = query.order_by(_history.c.person_key, _history.c.topic, _history.c.partition, _history.c.offset)
    parse = parse_event  # history written before peerscore.limits may hold longer free text
    current: str | None = None
    events: list[EngagementEvent] = []
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=chunk_rows).execute(query)
        for person_key, raw in result:
            if person_key != current:
                if current is not None:
                    yield current, events
                current, events = person_key, []
            events.append(parse(raw))
    if current is not None:
        yield current, events
