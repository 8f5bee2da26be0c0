"""Idempotent writes and period reads of outcomes (one executemany each, inside the caller's session)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from peerscore.db import upsert
from peerscore.events import Outcome
from peerscore.scoring.outcomes.models import OutcomeRow


def store_outcomes(session: Session, outcomes: Sequence[Outcome]) -> None:
    """Insert new outcome ids; ids already stored are left alone (``ON CONFLICT DO NOTHING``)."""
    rows = {
        o.event_id: {
            "outcome_id": o.event_id,
            "person_key": o.person_key,
            "kind": o.kind,
            "reason": o.reason,
            "source": o.source,
            "occurred_at": o.occurred_at,
            "received_at": o.received_at,
        }
        for o in outcomes
    }
    upsert(session, OutcomeRow, list(rows.values()), keys=("outcome_id",), update=())


def load_outcomes(session: Session, person_keys: set[str] | None = None) -> list[tuple[str, str, datetime]]:
    """``(person_key, kind, occurred_at)`` of every stored outcome (optionally for some people), oldest first."""
    query = select(OutcomeRow.person_key, OutcomeRow.kind, OutcomeRow.occurred_at).order_by(
        col(OutcomeRow.occurred_at), col(OutcomeRow.outcome_id)
    )
    rows = session.exec(query).all()
    return [(k, kind, at) for k, kind, at in rows if person_keys is None or k in person_keys]
