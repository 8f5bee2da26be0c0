"""The worker's storage steps on both databases: the outbox's one commit per batch, rows written as tuples, and
history stored as the bytes received."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from peerscore.consumer import Message
from peerscore.db import create_tables
from peerscore.events import parse_event
from peerscore.kafka_io import OutgoingRecord
from peerscore.scoring.domain.engine import Award
from peerscore.scoring.history import EventHistoryRow, ReceivedBytes, append_history
from peerscore.scoring.models import SCORING_TABLES, LedgerRow, OutboxRow
from peerscore.scoring.outbox import Outbox, add_outbox
from peerscore.scoring.store import add_ledger
from tests.unit.scoring.builders import event

AT = datetime(2026, 11, 1, 12, 30, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[OutgoingRecord] = []

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self.sent.extend(records)

    def flush(self, timeout: float | None = None) -> None:
        return None


def outbox_ids(engine: Engine) -> list[int]:
    with Session(engine) as session:
        return [i for i in session.exec(select(OutboxRow.id).order_by(col(OutboxRow.id))).all() if i is not None]


def one_batch(engine: Engine, outbox: Outbox, records: list[OutgoingRecord]) -> None:
    with Session(engine) as session, session.begin():
        outbox.settle(session)
        add_outbox(session, records)
        pending = outbox.pending(session)
    outbox.publish(pending)


@pytest.fixture
def tables(engine: Engine) -> Engine:
    create_tables(engine, SCORING_TABLES)
    return engine


def test_published_rows_are_deleted_by_the_next_batch_and_by_an_idle_flush(tables: Engine) -> None:
    recorder = Recorder()
    outbox = Outbox(tables, recorder)
    first = [OutgoingRecord("scores", "p1", b"1"), OutgoingRecord("scores", "p2", b"2")]
    one_batch(tables, outbox, first)
    assert recorder.sent == first
    assert len(outbox_ids(tables)) == 2, "published, deleted with the next transaction"
    second = [OutgoingRecord("qualified", "p1", b"3")]
    one_batch(tables, outbox, second)
    assert recorder.sent == [*first, *second], "each row published once"
    assert len(outbox_ids(tables)) == 1
    assert outbox.flush() == 0
    assert outbox_ids(tables) == [] and recorder.sent == [*first, *second]


def test_rows_left_by_a_crash_go_out_first_in_order(tables: Engine) -> None:
    with Session(tables) as session, session.begin():
        add_outbox(session, [OutgoingRecord("scores", "old", b"0"), OutgoingRecord("scores", "old", None)])
    recorder = Recorder()
    outbox = Outbox(tables, recorder)  # a restarted worker: knows nothing of what was sent
    new = OutgoingRecord("scores", "new", b"1")
    one_batch(tables, outbox, [new])
    assert [(r.key, r.value) for r in recorder.sent] == [("old", b"0"), ("old", None), ("new", b"1")]
    assert outbox.flush() == 0 and outbox_ids(tables) == []


def test_ledger_and_history_tuples_read_back_like_the_models(tables: Engine) -> None:
    award = Award(
        rule_id="pricing", group="engagement", ruleset_version="v1", event_id="e1", occurred_at=AT, points=12.5
    )
    local = AT.astimezone(timezone(timedelta(hours=2)))  # stored as UTC, like the ORM's type stores it
    with Session(tables) as session, session.begin():
        add_ledger(session, [("p1", award), ("p1", award.model_copy(update={"occurred_at": local}))])
    with Session(tables) as session:
        rows = session.exec(select(LedgerRow).order_by(col(LedgerRow.id))).all()
    assert [(r.person_key, r.rule_id, r.group, r.ruleset_version, r.event_id, r.points) for r in rows] == [
        ("p1", "pricing", "engagement", "v1", "e1", 12.5)
    ] * 2
    assert [r.occurred_at for r in rows] == [AT, AT] and all(r.occurred_at.tzinfo is not None for r in rows)
    assert [Award.model_validate(r, from_attributes=True) for r in rows] == [award, award]


def test_history_keeps_the_bytes_received_and_dumps_what_the_worker_built(tables: Engine) -> None:
    received = ReceivedBytes()
    arrived = event("page.viewed", url="https://acme.example/pricing", at=AT)
    value = b" " + arrived.model_dump_json(indent=1).encode()  # not what a dump would give
    decoded = parse_event(value)
    received.decoded(decoded, value)
    built = arrived.model_copy(update={"event_id": "built"})  # e.g. a merge marker: never received
    messages = [Message("events", 0, 7, decoded.person_key, decoded, 0), Message("events", 0, 8, "k", built, 0)]
    received.handling()
    with Session(tables) as session, session.begin():
        append_history(session, messages, received)
    with Session(tables) as session:
        rows = session.exec(select(EventHistoryRow).order_by(col(EventHistoryRow.offset))).all()
    assert [r.event for r in rows] == [value.decode(), built.model_dump_json()]
    assert [parse_event(r.event) for r in rows] == [decoded, built], "a replay parses what the worker applied"
    assert [(r.offset, r.occurred_at) for r in rows] == [(7, AT), (8, AT)]
    received.decoded(parse_event(value), value)  # the next poll: the handled one is forgotten
    assert received.text(decoded) == decoded.model_dump_json()
