"""``POST /v1/outcomes``: outcomes reported directly (a CRM export, a script) rather than through crm-sync.

An outcome names its lead by ``person_key`` or by email. An email is resolved to the lead scoring already knows
with that email (events are often keyed by a user id, so the email hash alone would miss them), and otherwise to
``person_key(PersonIdentifiers(email=…))``, exactly as ingest and crm-sync key people.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from peerscore.events import AwareDatetime, Outcome, OutcomeKind, PersonIdentifiers, utcnow
from peerscore.identity import normalise_email, person_key
from peerscore.scoring.models import PersonRow
from peerscore.scoring.outcomes.store import store_outcomes


class OutcomeIn(BaseModel):
    id: str = Field(min_length=1, max_length=256, description="The CRM's id of this outcome: the dedup key")
    email: str | None = Field(default=None, max_length=320)
    person_key: str | None = Field(default=None, min_length=1, max_length=64)
    kind: OutcomeKind
    reason: str | None = Field(default=None, max_length=2000)
    occurred_at: AwareDatetime

    @model_validator(mode="after")
    def _names_a_lead(self) -> OutcomeIn:
        if not self.email and not self.person_key:
            raise ValueError("give email or person_key")
        return self


class OutcomeBatch(BaseModel):
    outcomes: Annotated[list[OutcomeIn], Field(min_length=1, max_length=1000)]


class OutcomesAccepted(BaseModel):
    received: int


def outcomes_router(engine: Engine, person_key_secret: bytes, auth: Callable[..., None]) -> APIRouter:
    router = APIRouter(prefix="/v1/outcomes", tags=["outcomes"], dependencies=[Depends(auth)])

    @router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=OutcomesAccepted)
    def post_outcomes(body: OutcomeBatch) -> OutcomesAccepted:
        """Store the batch; ids already stored are ignored, so a client may safely retry."""
        received = utcnow()
        with Session(engine) as session, session.begin():
            emails = {normalise_email(o.email) for o in body.outcomes if o.email and not o.person_key}
            known: dict[str, str] = {}
            if emails:
                rows = session.exec(
                    select(PersonRow.email, PersonRow.person_key).where(col(PersonRow.email).in_(emails))
                )
                known = {email: key for email, key in rows.all() if email is not None}
            outcomes = [
                Outcome(
                    event_id=o.id,
                    person_key=o.person_key or _key_for_email(o.email or "", known, person_key_secret),
                    kind=o.kind,
                    reason=o.reason,
                    source="webhook",
                    occurred_at=o.occurred_at,
                    received_at=received,
                )
                for o in body.outcomes
            ]
            store_outcomes(session, outcomes)
        return OutcomesAccepted(received=len(outcomes))

    return router


def _key_for_email(email: str, known: dict[str, str], secret: bytes) -> str:
    normalised = normalise_email(email)
    if normalised in known:
        return known[normalised]
    key = person_key(PersonIdentifiers(email=normalised), secret)
    if key is None:  # pragma: no cover - an email always yields a key
        raise ValueError("email gives no person key")
    return key
