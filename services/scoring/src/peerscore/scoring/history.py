"""The event history: every event the worker applied, kept so backtests replay exactly what production scored.

Rows are written by the handler in the same transaction as the person states (so history and state never
disagree after a crash) and carry the Kafka topic/partition/offset: per person, that is the order the worker
applied them in, which a replay must reproduce. The event is stored as its JSON text (the bytes it arrived as,
see :class:`ReceivedBytes`) so a replay parses it with ``parse_event`` without building ORM objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, Session, SQLModel

from peerscore.db import UtcDateTime
from peerscore.events import EngagementEvent
from peerscore.scoring.outcomes.models import OutcomeRow
from peerscore.scoring.rows import insert_tuples

if TYPE_CHECKING:  # the worker's message type; replays read history without loading the Kafka stack
    from peerscore.consumer import Message


class EventHistoryRow(SQLModel, table=True):
    """One applied event. Indexed for the replay's read: one person's events in partition order."""

    __tablename__ = "event_history"
    __table_args__ = (Index("ix_event_history_person_order", "person_key", "topic", "partition", "offset"),)

    id: int | None = Field(default=None, primary_key=True)
    person_key: str = Field(max_length=64)
    topic: str = Field(max_length=255)
    partition: int
    offset: int
    occurred_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False, index=True))
    event: str = Field(sa_column=Column(Text, nullable=False))


def history_row(topic: str, partition: int, offset: int, event: EngagementEvent) -> dict[str, object]:
    """The insert parameters of one event (also used by the bench to write history without a broker)."""
    return {
        "person_key": event.person_key,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "occurred_at": event.occurred_at,
        "event": event.model_dump_json(),
    }


HISTORY_COLUMNS = ("person_key", "topic", "partition", "offset", "occurred_at", "event")


class ReceivedBytes:
    """The bytes each event of the current poll arrived as, so history stores them instead of a re-dump.

    The contract allows it when the bytes parse to the event as they are: a replay parses them with
    :func:`peerscore.events.parse_event` like the worker did (``extra="forbid"``: nothing in them the event
    lacks). Events the worker built itself (transfer markers, forwarded copies) and legacy events whose free
    text had to be cut are not here and are dumped. Entries hold the event itself, so an id is never mistaken
    for a later object's; they are dropped when the next poll is decoded.
    """

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[EngagementEvent, bytes]] = {}
        self._handled = False

    def decoded(self, event: EngagementEvent, value: bytes) -> None:
        if self._handled:  # a new poll: the previous one's events are all handled (or will be decoded again)
            self._by_id.clear()
            self._handled = False
        self._by_id[id(event)] = (event, value)

    def handling(self) -> None:
        self._handled = True

    def text(self, event: EngagementEvent) -> str:
        entry = self._by_id.get(id(event))
        if entry is not None and entry[0] is event:
            try:
                return entry[1].decode()
            except UnicodeDecodeError:
                pass
        return event.model_dump_json()


def append_history(
    session: Session, messages: Sequence[Message[EngagementEvent]], received: ReceivedBytes | None = None
) -> None:
    """Insert the applied events in one executemany of tuples, inside the caller's transaction."""
    text = received.text if received is not None else EngagementEvent.model_dump_json
    insert_tuples(
        session,
        EventHistoryRow.__table__,  # type: ignore[attr-defined]
        HISTORY_COLUMNS,
        [(m.value.person_key, m.topic, m.partition, m.offset, m.value.occurred_at, text(m.value)) for m in messages],
    )


HISTORY_TABLES: tuple[type[SQLModel], ...] = (EventHistoryRow, OutcomeRow)
"""What backtests read: the applied events and the outcomes they are measured against (for SCORING_TABLES)."""
