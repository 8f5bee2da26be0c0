"""Erasure inside the scoring worker: delete everything held about a person key, and log that it was done.

The request travels on the events topic keyed by the person key (type ``system.privacy.erasure``), so the worker
that owns the key erases in partition order, inside its batch transaction: events before the request are erased
(including those earlier in the same batch, which are dropped unapplied), events after it start a new, empty
person. Keys that were merged into the erased key are erased with it (their history and redirects); a key that
was itself merged away forwards the request to where its data went. Once erased, an :class:`ErasureRequest` goes
to the erasure topic for the other services (crm-sync) to delete their copies, and a tombstone per erased key to
the compacted scores topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, insert, or_
from sqlmodel import Session, col, select

from peerscore.events import ERASURE, INTERNAL_SOURCE, EngagementEvent
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.identity.models import ErasureLogRow, IdentityLinkRow, SeenEventRow
from peerscore.scoring.insights.models import InfluencePersonRow, MqlMilestoneRow
from peerscore.scoring.models import AccountActivityRow, LedgerRow, OutboxRow, PersonRow
from peerscore.scoring.outcomes.models import OutcomeRow
from peerscore.scoring.predictive.model_registry import ModelPredictionRow
from peerscore.scoring.signals import erase_people

MAX_MERGED_DEPTH = 32
"""How many generations of merged keys are followed (merge chains are short; this only bounds a bad loop)."""


class ErasureOrder(BaseModel):
    """The payload of an erasure event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    requested_at: datetime
    keys: list[str] = Field(default_factory=list, description="Every key the request erases (none forwarded to)")


def erasure_event(person_key: str, order: ErasureOrder) -> EngagementEvent:
    return EngagementEvent(
        event_id=f"erasure:{order.request_id}:{person_key}",
        type=ERASURE,
        source=INTERNAL_SOURCE,
        person_key=person_key,
        occurred_at=order.requested_at,
        received_at=order.requested_at,
        properties=order.model_dump(mode="json"),
    )


def merged_into(session: Session, key: str) -> list[str]:
    """Every key whose data was merged (directly or through a chain) into ``key``."""
    found: list[str] = []
    frontier = [key]
    for _ in range(MAX_MERGED_DEPTH):
        rows = session.exec(
            select(IdentityLinkRow.person_key).where(col(IdentityLinkRow.merged_into).in_(frontier))
        ).all()
        frontier = [k for k in rows if k not in found and k != key]
        if not frontier:
            break
        found.extend(frontier)
    return found


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def erase_keys(session: Session, key: str, merged: Sequence[str]) -> dict[str, int]:
    """Delete the person's rows in every scoring table; returns rows deleted per table (for the log)."""
    keys = [key, *merged]
    deleted = {
        "person_state": _count(session.execute(delete(PersonRow).where(col(PersonRow.person_key).in_(keys)))),
        "score_ledger": _count(session.execute(delete(LedgerRow).where(col(LedgerRow.person_key).in_(keys)))),
        "event_history": _count(
            session.execute(delete(EventHistoryRow).where(col(EventHistoryRow.person_key).in_(keys)))
        ),
        "seen_event": _count(session.execute(delete(SeenEventRow).where(col(SeenEventRow.person_key).in_(keys)))),
        "scoring_outbox": _count(session.execute(delete(OutboxRow).where(col(OutboxRow.key).in_(keys)))),
        "account_activity": _count(
            session.execute(delete(AccountActivityRow).where(col(AccountActivityRow.person_key).in_(keys)))
        ),
        "outcome": _count(session.execute(delete(OutcomeRow).where(col(OutcomeRow.person_key).in_(keys)))),
        "model_prediction": _count(
            session.execute(delete(ModelPredictionRow).where(col(ModelPredictionRow.person_key).in_(keys)))
        ),
        "identity_link": _count(
            session.execute(
                delete(IdentityLinkRow).where(
                    or_(col(IdentityLinkRow.person_key).in_(keys), col(IdentityLinkRow.merged_into).in_(keys))
                )
            )
        ),
        "unscored_signal_person": erase_people(session, keys),
        "influence_person": _count(
            session.execute(delete(InfluencePersonRow).where(col(InfluencePersonRow.person_key).in_(keys)))
        ),
        "mql_milestone": _count(
            session.execute(delete(MqlMilestoneRow).where(col(MqlMilestoneRow.person_key).in_(keys)))
        ),
    }
    deleted["merged_keys"] = len(merged)
    return deleted


def tombstone_scores(session: Session, scores_topic: str, keys: Sequence[str]) -> None:
    """Queue a tombstone per erased key on the compacted scores topic, in the outbox now: ids order the outbox,
    so it is published after every score the key had and before any score a new person under it gets later in
    this batch. Compaction then drops the person's last score (reasons, account) from the topic."""
    session.execute(
        insert(OutboxRow.__table__),  # type: ignore[attr-defined]
        [{"topic": scores_topic, "key": key, "value": None} for key in keys],
    )


def log_erasure(
    session: Session, *, key: str, order: ErasureOrder, erased_at: datetime, deleted: dict[str, int]
) -> None:
    session.add(
        ErasureLogRow(
            request_id=order.request_id,
            person_key=key,
            requested_at=order.requested_at,
            erased_at=erased_at,
            deleted=deleted,
        )
    )
