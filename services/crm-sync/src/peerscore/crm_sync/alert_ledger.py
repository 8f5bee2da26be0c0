"""The alert ledger's reads and writes, in the caller's transaction (see :mod:`.alert_models` for the row).

Intent is recorded with ``INSERT … ON CONFLICT DO NOTHING`` on (destination, person key, version): a transition
read again (redelivery after a crash, a replay from the start of the topic) finds its row and adds nothing, so
it is never alerted twice; only rows still ``pending`` are ever posted.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from peerscore.crm_sync.alert_models import AlertLedger
from peerscore.db import upsert

_KEYS = ("destination", "person_key", "version")


@dataclass(frozen=True)
class AlertKey:
    destination: str
    person_key: str
    version: int


def intent(
    destination: str, kind: str, person_key: str, version: int, message: str, transitioned_at: datetime, now: datetime
) -> dict[str, Any]:
    """A ``pending`` row: due at once, nothing spent yet."""
    return {
        "destination": destination,
        "person_key": person_key,
        "version": version,
        "kind": kind,
        "status": "pending",
        "message": message,
        "attempts": 0,
        "first_failed_at": None,
        "next_attempt_at": now,
        "last_error": None,
        "transitioned_at": transitioned_at,
        "created_at": now,
        "settled_at": None,
    }


def record_intents(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    upsert(session, AlertLedger, rows, keys=_KEYS, update=[])  # existing rows stay as they are


def due(session: Session, now: datetime, limit: int, paused: Collection[str] = ()) -> list[AlertKey]:
    """Pending alerts whose next attempt is due, earliest first, skipping destinations whose breaker is open."""
    query = select(AlertLedger.destination, AlertLedger.person_key, AlertLedger.version).where(
        AlertLedger.status == "pending", col(AlertLedger.next_attempt_at) <= now
    )
    if paused:
        query = query.where(col(AlertLedger.destination).not_in(list(paused)))
    query = query.order_by(col(AlertLedger.next_attempt_at), col(AlertLedger.person_key)).limit(limit)
    return [AlertKey(d, p, v) for d, p, v in session.exec(query).all()]


def lock(session: Session, key: AlertKey) -> AlertLedger | None:
    """The row, still pending, locked for this transaction (on PostgreSQL another worker skips it; SQLite
    serialises writers anyway); ``None`` when it was settled meanwhile."""
    return session.exec(
        select(AlertLedger)
        .where(
            AlertLedger.destination == key.destination,
            AlertLedger.person_key == key.person_key,
            AlertLedger.version == key.version,
            AlertLedger.status == "pending",
        )
        .with_for_update(skip_locked=True)
    ).first()


def settle(row: AlertLedger, status: str, now: datetime, error: str | None = None) -> None:
    """Sent or dead-lettered: the message (the lead's name and title) is no longer needed, so it is dropped."""
    row.status = status
    row.message = None
    row.settled_at = now
    if error is not None:
        row.last_error = error[:2000]


def counts(session: Session) -> dict[tuple[str, str], int]:
    """(destination, status) → rows: what an operator or a test asks of the ledger."""
    rows = session.exec(select(AlertLedger.destination, AlertLedger.status)).all()
    out: dict[tuple[str, str], int] = {}
    for destination, status in rows:
        out[(destination, status)] = out.get((destination, status), 0) + 1
    return out
