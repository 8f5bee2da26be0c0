"""Reading the event history for a replay: plain tuples read in key ranges, grouped per canonical person.

A million ORM rows would cost more than the scoring itself; ``select(table.c…)`` reads ``(person_key,
event_json)`` in the order the worker applied them: per key, by topic, partition and offset. Keys merged into
another (``identity_link``, chains included) are read with the canonical person they ended in, so a replay folds
them where the worker did (see :mod:`peerscore.scoring.identity.replay`) and a range never splits a person.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, select

from peerscore.events import parse_event
from peerscore.scoring.backtest.period import Period
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.identity.canonical import canonical_keys, load_links
from peerscore.scoring.identity.replay import PersonHistory, complete_markers

CHUNK_ROWS = 5_000
MAX_RANGE_EVENTS = 100_000
"""A range is read whole (a merged key's rows may sort anywhere in it), so ranges are kept this small."""
IN_CHUNK = 500
_history = EventHistoryRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class KeyRange:
    """Canonical people whose keys fall in ``[first, last]``, how many events they have in the period, and
    ``merged``: every key with history merged into one of them, or lying in the range but merged elsewhere."""

    first: str
    last: str
    events: int
    merged: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    """The direct links of the merged keys (where a marker-less history merges them)."""

    def holds(self, key: str) -> bool:
        return self.first <= key <= self.last


def _in_period(query: Select[Any], period: Period) -> Select[Any]:
    if period.since is not None:
        query = query.where(_history.c.occurred_at >= period.since)
    if period.until is not None:
        query = query.where(_history.c.occurred_at < period.until)
    return query


def key_ranges(engine: Engine, period: Period, parts: int, max_events: int = MAX_RANGE_EVENTS) -> list[KeyRange]:
    """Split the period's canonical people into contiguous key ranges of about equal event counts: at least
    ``parts`` when there are that many people, none over ``max_events`` unless one person is.

    Ranges never split a canonical person, so each can be folded independently (another process, another time).
    """
    query = _in_period(select(_history.c.person_key, func.count()), period)
    with engine.connect() as conn:
        counts = conn.execute(query.group_by(_history.c.person_key)).all()
        links = load_links(conn)
    canonical = canonical_keys((k for k, _ in counts), links)
    people: dict[str, int] = {}
    for key, n in counts:
        people[canonical[key]] = people.get(canonical[key], 0) + n
    ordered = sorted(people.items())
    total = sum(people.values())
    if not ordered:
        return []
    parts = max(parts, -(-total // max(1, max_events)))
    target = max(1, -(-total // max(1, parts)))
    bounds: list[tuple[str, str, int]] = []
    first, size = ordered[0][0], 0
    for i, (key, n) in enumerate(ordered):
        size += n
        if size >= target or i == len(ordered) - 1:
            bounds.append((first, key, size))
            if i + 1 < len(ordered):
                first, size = ordered[i + 1][0], 0
    merged = {k: c for k, c in canonical.items() if k != c}
    ranges = []
    for first, last, size in bounds:
        mine = {k: c for k, c in merged.items() if first <= c <= last or first <= k <= last}
        ranges.append(KeyRange(first, last, size, mine, {k: links[k] for k in mine}))
    return ranges


def _rows(conn: Connection, query: Select[Any], chunk_rows: int, into: dict[str, list[str]]) -> None:
    ordered = query.order_by(_history.c.person_key, _history.c.topic, _history.c.partition, _history.c.offset)
    for person_key, raw in conn.execution_options(yield_per=chunk_rows).execute(ordered):
        into.setdefault(person_key, []).append(raw)


def range_histories(
    engine: Engine, period: Period, keys: KeyRange, chunk_rows: int = CHUNK_ROWS
) -> Iterator[PersonHistory]:
    """Each canonical person of ``keys``, in key order, with the streams of every key merged into it."""
    base = _in_period(select(_history.c.person_key, _history.c.event), period)
    rows: dict[str, list[str]] = {}
    outside = sorted(k for k, c in keys.merged.items() if keys.holds(c) and not keys.holds(k))
    in_range = base.where(_history.c.person_key >= keys.first, _history.c.person_key <= keys.last)
    with engine.connect() as conn:
        _rows(conn, in_range, chunk_rows, rows)
        for i in range(0, len(outside), IN_CHUNK):
            _rows(conn, base.where(_history.c.person_key.in_(outside[i : i + IN_CHUNK])), chunk_rows, rows)
    members: dict[str, list[str]] = {}
    for key in rows:
        person = keys.merged.get(key, key)
        if keys.holds(person):
            members.setdefault(person, []).append(key)
    parse = parse_event  # history written before peerscore.limits may hold longer free text
    for person in sorted(members):
        streams = {key: [parse(raw) for raw in rows.pop(key)] for key in sorted(members[person])}
        history = PersonHistory(person, streams)
        yield complete_markers(history, keys.links) if len(streams) > 1 or person not in streams else history


def people_histories(engine: Engine, period: Period, keys: KeyRange | None = None) -> Iterator[PersonHistory]:
    """Every canonical person of ``keys`` (all people when ``None``, read range by range)."""
    for part in [keys] if keys is not None else key_ranges(engine, period, 1):
        yield from range_histories(engine, period, part)
