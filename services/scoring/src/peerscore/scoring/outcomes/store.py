"""Idempotent writes and reads of outcomes (one executemany each, inside the caller's session).

Rows keep the key the outcome arrived with (a CRM names its lead by email, so usually the email's key): that is
the audit trail. Readers get each outcome under the person's canonical key instead, resolved through the
identity links at read time, so an outcome stored before the person's identify attaches once the link exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from peerscore.db import upsert
from peerscore.events import Outcome
from peerscore.scoring.identity.canonical import canonical_keys, load_links
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
    """``(canonical person_key, kind, occurred_at)`` of every stored outcome, oldest first.

    ``person_keys`` keeps the outcomes of those (canonical) people. Two queries whatever the size: the outcomes
    and the identity links; keys are resolved with dict lookups.
    """
    query = select(OutcomeRow.person_key, OutcomeRow.kind, OutcomeRow.occurred_at).order_by(
        col(OutcomeRow.occurred_at), col(OutcomeRow.outcome_id)
    )
    rows = session.exec(query).all()
    canonical = canonical_keys({k for k, _, _ in rows}, load_links(session))
    resolved = ((canonical[k], kind, at) for k, kind, at in rows)
    return [(k, kind, at) for k, kind, at in resolved if person_keys is None or k in person_keys]
