"""``POST /v1/outcomes``: outcomes reported directly (a CRM export, a script) rather than through crm-sync.

An outcome names its lead by ``person_key`` or by email. An email is keyed exactly as crm-sync keys it
(:func:`peerscore.identity.outcome_person_key`) and stored under that key; readers see it under the canonical person
the email was merged into (events are often keyed by a user id), even when that merge happens after the outcome.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, Field, model_validator
from sqlmodel import Session

from peerscore import limits
from peerscore.events import AwareDatetime, Outcome, OutcomeKind, utcnow
from peerscore.identity import outcome_person_key
from peerscore.limits import StoredText
from peerscore.scoring.deps import AdminAccess, Context, EngineDep
from peerscore.scoring.outcomes.store import store_outcomes


class OutcomeIn(BaseModel):
    """Bounded like the :class:`Outcome` contract it becomes (a value that contract refuses is a 422 here,
    with its field, not a 500 from inside the handler)."""

    id: StoredText = Field(min_length=1, max_length=limits.EVENT_ID, description="The CRM's id: the dedup key")
    email: StoredText | None = Field(default=None, max_length=limits.EMAIL)
    person_key: StoredText | None = Field(default=None, min_length=1, max_length=limits.PERSON_KEY)
    kind: OutcomeKind
    reason: StoredText | None = Field(default=None, max_length=limits.OUTCOME_REASON)
    occurred_at: AwareDatetime

    @model_validator(mode="after")
    def _names_a_lead(self) -> OutcomeIn:
        if not (self.email and self.email.strip()) and not self.person_key:
            raise ValueError("give email or person_key")
        return self


class OutcomeBatch(BaseModel):
    outcomes: Annotated[list[OutcomeIn], Field(min_length=1, max_length=1000)]


class OutcomesAccepted(BaseModel):
    received: int


router = APIRouter(prefix="/v1/outcomes", tags=["outcomes"], dependencies=[AdminAccess])  # the model's labels


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=OutcomesAccepted)
def post_outcomes(body: OutcomeBatch, engine: EngineDep, context: Context) -> OutcomesAccepted:
    """Store the batch; ids already stored are ignored, so a client may safely retry."""
    received = utcnow()
    outcomes = [
        Outcome(
            event_id=o.id,
            person_key=o.person_key or _email_key(o.email, context.person_key_secret),
            kind=o.kind,
            reason=o.reason,
            source="webhook",
            occurred_at=o.occurred_at,
            received_at=received,
        )
        for o in body.outcomes
    ]
    with Session(engine) as session, session.begin():
        store_outcomes(session, outcomes)
    return OutcomesAccepted(received=len(outcomes))


def _email_key(email: str | None, secret: bytes) -> str:
    key = outcome_person_key(email, secret)
    if key is None:  # pragma: no cover - the model validator requires an email when there is no person key
        raise ValueError("email gives no person key")
    return key
