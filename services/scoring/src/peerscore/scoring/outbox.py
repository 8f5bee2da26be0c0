"""The scoring worker's outbox: outputs written with the state, published after the commit, deleted later.

A batch's transaction writes its outputs as outbox rows, deletes the rows the previous batch published, and
reads back what is pending (this batch's rows, and any a crash or a failed publish left behind) in id order.
After the commit the rows are published (acks=all) and their ids remembered; the next batch's transaction —
or the next idle poll — deletes them. One commit per batch instead of a second session to delete, and no
session of its own to find what is pending. A crash after publishing re-publishes the last batch's outputs on
restart: outputs are at-least-once and carry the lead version as their idempotency key.
"""

from __future__ import annotations

from collections.abc import Sequence

from kafka.errors import KafkaError
from sqlalchemy import Engine, Row, bindparam, delete, insert
from sqlalchemy import select as sa_select
from sqlmodel import Session

from peerscore.consumer import RetryableError
from peerscore.kafka_io import OutgoingRecord, Publisher
from peerscore.scoring.models import OutboxRow

OUTBOX_CHUNK = 5000

OutboxRows = Sequence[Row[tuple[int, str, str | None, bytes | None]]]

_TABLE = OutboxRow.__table__  # type: ignore[attr-defined]
# Built once (ids bound as an expanding list): statement construction would cost more than the statements.
_PENDING = sa_select(_TABLE.c.id, _TABLE.c.topic, _TABLE.c.key, _TABLE.c.value).order_by(_TABLE.c.id)
_PENDING_CHUNK = _PENDING.limit(OUTBOX_CHUNK)
_DELETE = delete(_TABLE).where(_TABLE.c.id.in_(bindparam("ids", expanding=True)))


def add_outbox(session: Session, records: Sequence[OutgoingRecord]) -> None:
    if records:
        session.connection().execute(
            insert(_TABLE), [{"topic": r.topic, "key": r.key, "value": r.value} for r in records]
        )


def pending_outbox(session: Session, limit: int) -> OutboxRows:
    """The oldest pending outputs as plain rows (id, topic, key, value): no ORM objects on the hot path."""
    return list(session.connection().execute(_PENDING.limit(limit) if limit != OUTBOX_CHUNK else _PENDING_CHUNK).all())


class Outbox:
    """The published-but-not-yet-deleted ids between two transactions of one worker."""

    def __init__(self, engine: Engine, publisher: Publisher) -> None:
        self._engine = engine
        self._publisher = publisher
        self._sent: list[int] = []

    def settle(self, session: Session) -> None:
        """Delete, in the caller's transaction, what was published since the last one. Deleting ids again after
        a rolled-back transaction is harmless, so the ids are only forgotten once newer ones are published."""
        if self._sent:
            session.connection().execute(_DELETE, {"ids": self._sent})

    def pending(self, session: Session) -> OutboxRows:
        return pending_outbox(session, OUTBOX_CHUNK)

    def publish(self, rows: OutboxRows) -> None:
        """Publish committed rows in order; their ids are deleted by the next transaction."""
        self._sent = []  # the transaction before this publish deleted them
        if not rows:
            return
        try:
            self._publisher.publish([OutgoingRecord(r.topic, r.key, r.value) for r in rows], wait=True)
        except KafkaError as exc:
            raise RetryableError(f"publishing outputs: {type(exc).__name__}", retry_after=1.0) from exc
        self._sent = [r.id for r in rows]

    def flush(self) -> int:
        """Publish everything pending and delete it, in transactions of its own (idle polls, and the rare batch
        with more than a chunk of outputs); returns how many rows went out."""
        sent = 0
        while True:
            with Session(self._engine) as session, session.begin():
                self.settle(session)
                rows = self.pending(session)
            self.publish(rows)
            if not rows:
                return sent
            sent += len(rows)
