"""The unscored-signal report's storage: per day and :class:`~.domain.signals.SignalKey`, how many events no
rule scored, who sent them, and a few examples.

Written by the scoring worker inside each batch's transaction (:func:`record_unscored`), read by
``GET /v1/signals/unscored`` and the console's signals page (:func:`unscored_report`). Days are the events'
own (``occurred_at``, UTC), so history streamed in late lands where it happened. Counts are incremented in SQL
(``events = events + excluded.events``) so workers on other partitions add up; examples are those of the first
batch that saw a key that day (bounded, and never personal data: paths with ids stripped, property names).
Distinct people are one row per (day, key, person key); person keys are already keyed hashes, and an erasure
deletes the person's rows (:func:`erase_people`) while the anonymous event counts stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import JSON, Column, Date, delete, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from peerscore import limits
from peerscore.events import EngagementEvent
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.domain.signals import SignalKey, SignalTally, tally_unscored


class UnscoredSignalRow(SQLModel, table=True):
    """Unscored events of one kind on one day."""

    __tablename__ = "unscored_signal"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    signal_key: str = Field(primary_key=True, max_length=32)
    type: str = Field(max_length=limits.EVENT_TYPE)
    name: str = Field(max_length=limits.EVENT_NAME)
    source: str = Field(max_length=limits.SOURCE)
    page: str = Field(max_length=32)
    events: int
    examples: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class UnscoredSignalPersonRow(SQLModel, table=True):
    """One person (pseudonymous key) who sent an unscored kind of event on a day: counts distinct people."""

    __tablename__ = "unscored_signal_person"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    signal_key: str = Field(primary_key=True, max_length=32)
    person_key: str = Field(primary_key=True, max_length=limits.PERSON_KEY, index=True)


class EventDayRow(SQLModel, table=True):
    """Every countable event (not system or profile events) per day: the denominator of the unscored share."""

    __tablename__ = "scored_event_day"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    events: int


SIGNAL_TABLES: tuple[type[SQLModel], ...] = (UnscoredSignalRow, UnscoredSignalPersonRow, EventDayRow)


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _add_counts(session: Session, model: type[SQLModel], rows: list[dict[str, Any]], keys: list[str]) -> None:
    """Insert the rows, or add their ``events`` to the stored ones (other columns keep their first values)."""
    if not rows:
        return
    table = model.__table__  # type: ignore[attr-defined]
    stmt = _insert(session)(table)
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={"events": table.c.events + stmt.excluded.events})
    session.execute(stmt, rows)


def record_unscored(session: Session, ruleset: Ruleset, events: Iterable[EngagementEvent]) -> tuple[int, int]:
    """Count the batch's applied events and its unscored ones, inside the batch's transaction; returns
    (countable events, unscored events) for the gauge."""
    by_day: dict[date, list[EngagementEvent]] = {}
    for event in events:
        by_day.setdefault(event.occurred_at.date(), []).append(event)
    totals: list[dict[str, Any]] = []
    signals: list[dict[str, Any]] = []
    people: set[tuple[date, str, str]] = set()
    unscored = 0
    for day, day_events in sorted(by_day.items()):
        counted, tallies = tally_unscored(day_events, ruleset)
        if counted:
            totals.append({"day": day, "events": counted})
        for key, tally in sorted(tallies.items(), key=lambda item: item[0].digest()):
            signals.append(_signal_row(day, key, tally))
            people.update((day, key.digest(), person) for person in tally.people)
            unscored += tally.events
    _add_counts(session, EventDayRow, totals, ["day"])
    _add_counts(session, UnscoredSignalRow, signals, ["day", "signal_key"])
    if people:
        table = UnscoredSignalPersonRow.__table__  # type: ignore[attr-defined]
        stmt = _insert(session)(table).on_conflict_do_nothing(index_elements=["day", "signal_key", "person_key"])
        session.execute(stmt, [{"day": d, "signal_key": k, "person_key": p} for d, k, p in sorted(people)])
    return sum(t["events"] for t in totals), unscored


def _signal_row(day: date, key: SignalKey, tally: SignalTally) -> dict[str, Any]:
    return {
        "day": day,
        "signal_key": key.digest(),
        "type": key.type,
        "name": key.name,
        "source": key.source,
        "page": key.page,
        "events": tally.events,
        "examples": tally.examples,
    }


def erase_people(session: Session, keys: Sequence[str]) -> int:
    """Delete erased people's rows (the anonymous per-day event counts stay); returns rows deleted."""
    result = session.execute(delete(UnscoredSignalPersonRow).where(col(UnscoredSignalPersonRow.person_key).in_(keys)))
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class UnscoredSignal:
    """One kind of unscored event over the window."""

    type: str
    name: str
    source: str
    page: str
    events: int
    people: int
    share: float
    """Of all countable events in the window."""
    examples: list[str]


@dataclass(frozen=True)
class UnscoredReport:
    since: date
    until: date
    events: int
    unscored_events: int
    signals: list[UnscoredSignal]

    @property
    def share(self) -> float:
        return self.unscored_events / self.events if self.events else 0.0


def unscored_report(session: Session, *, today: date, days: int, limit: int = 200) -> UnscoredReport:
    """The window's unscored kinds of event, by volume (most first), with distinct people and examples."""
    since = today - timedelta(days=days - 1)
    total = session.exec(select(func.coalesce(func.sum(EventDayRow.events), 0)).where(EventDayRow.day >= since)).one()
    rows = session.exec(
        select(UnscoredSignalRow).where(UnscoredSignalRow.day >= since).order_by(col(UnscoredSignalRow.day))
    ).all()
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = merged.setdefault(
            row.signal_key, {"key": SignalKey(row.type, row.name, row.source, row.page), "events": 0, "examples": []}
        )
        entry["events"] += row.events
        entry["examples"].extend(e for e in row.examples if e not in entry["examples"])
    people = dict(
        session.exec(
            select(UnscoredSignalPersonRow.signal_key, func.count(func.distinct(UnscoredSignalPersonRow.person_key)))
            .where(UnscoredSignalPersonRow.day >= since)
            .group_by(col(UnscoredSignalPersonRow.signal_key))
        ).all()
    )
    total_events = int(total)
    ranked = sorted(merged.items(), key=lambda item: (-item[1]["events"], item[0]))[:limit]
    signals = [
        UnscoredSignal(
            type=entry["key"].type,
            name=entry["key"].name,
            source=entry["key"].source,
            page=entry["key"].page,
            events=entry["events"],
            people=int(people.get(digest, 0)),
            share=entry["events"] / total_events if total_events else 0.0,
            examples=entry["examples"][:5],
        )
        for digest, entry in ranked
    ]
    unscored = sum(entry["events"] for entry in merged.values())
    return UnscoredReport(since=since, until=today, events=total_events, unscored_events=unscored, signals=signals)
