"""``POST /v1/people/erase`` (``{"email": ...}``): erase a person across Peerscore; ``GET /v1/erasures/{request_id}``:
proof. ``DELETE /v1/people/{email}`` does the same for one release, marked deprecated: an email in a URL path lands
in proxy and access logs.

The API deletes nothing itself. It finds the person's keys (the email's own key, every scored person stored with
that email, and where merges took them), publishes one erasure event per key on the events topic (keyed by the
key, so the owning worker erases in order with the person's events) and answers 202 once Kafka acknowledged.
Scoring erases and logs, then tells the other services through the erasure topic; each logs what it deleted.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from kafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from peerscore.api import deprecate_email_in_url
from peerscore.errors import Unavailable, Unprocessable
from peerscore.events import utcnow
from peerscore.identity import email_person_key, normalise_email
from peerscore.kafka_io import Publisher, record
from peerscore.scoring.deps import AdminAccess, ApiContext, Context, PublisherDep, SessionDep
from peerscore.scoring.identity.erasure import MAX_MERGED_DEPTH, ErasureOrder, erasure_event
from peerscore.scoring.identity.models import ErasureLogRow, IdentityLinkRow
from peerscore.scoring.models import PersonRow


class ErasureAccepted(BaseModel):
    request_id: str
    person_keys: list[str]
    requested_at: datetime
    status: str = "accepted"


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)


class ErasureRecord(BaseModel):
    person_key: str
    requested_at: datetime
    erased_at: datetime
    deleted: dict[str, Any]


def person_keys_for_email(session: Session, email: str, secret: bytes) -> list[str]:
    """The email's own key, every stored person with that email, and the keys merges moved them to."""
    keys = {email_person_key(email, secret)}
    keys.update(session.exec(select(PersonRow.person_key).where(PersonRow.email == normalise_email(email))).all())
    frontier = set(keys)
    for _ in range(MAX_MERGED_DEPTH):
        onward = set(
            session.exec(
                select(IdentityLinkRow.merged_into).where(col(IdentityLinkRow.person_key).in_(sorted(frontier)))
            ).all()
        )
        frontier = onward - keys
        if not frontier:
            break
        keys |= frontier
    return sorted(keys)


def erase(session: Session, context: ApiContext, publisher: Publisher, email: str, field: str) -> ErasureAccepted:
    """Publish one erasure order per key of the person and answer once Kafka acknowledged them all."""
    if "@" not in email or email.strip().startswith("@") or email.strip().endswith("@"):
        raise Unprocessable(f"{field}: not an email address")
    keys = person_keys_for_email(session, email, context.person_key_secret)
    order = ErasureOrder(request_id=uuid.uuid4().hex, requested_at=utcnow(), keys=keys)
    try:
        publisher.publish([record(context.events_topic, k, erasure_event(k, order)) for k in keys], wait=True)
    except KafkaError as exc:
        raise Unavailable("event log unavailable; retry") from exc
    return ErasureAccepted(request_id=order.request_id, person_keys=keys, requested_at=order.requested_at)


router = APIRouter(tags=["privacy"], dependencies=[AdminAccess])


@router.post("/v1/people/erase", status_code=status.HTTP_202_ACCEPTED, response_model=ErasureAccepted)
def erase_person(
    body: ErasureRequest, session: SessionDep, context: Context, publisher: PublisherDep
) -> ErasureAccepted:
    """Erase everything Peerscore holds about the person with this email (asynchronous; see the request)."""
    return erase(session, context, publisher, body.email, "body.email")


@router.delete(
    "/v1/people/{email}", status_code=status.HTTP_202_ACCEPTED, response_model=ErasureAccepted, deprecated=True
)
def erase_person_by_path(
    email: Annotated[str, Path(min_length=3, max_length=320)],
    response: Response,
    session: SessionDep,
    context: Context,
    publisher: PublisherDep,
) -> ErasureAccepted:
    """Deprecated (one release): the email sits in the URL. Use ``POST /v1/people/erase``."""
    deprecate_email_in_url(response, endpoint="DELETE /v1/people/{email}", successor="/v1/people/erase")
    return erase(session, context, publisher, email, "path.email")


@router.get("/v1/erasures/{request_id}", response_model=list[ErasureRecord])
def erasure_status(request_id: Annotated[str, Path(max_length=128)], session: SessionDep) -> list[ErasureRecord]:
    """What scoring erased for a request (empty while the worker has not reached it yet)."""
    rows = session.exec(
        select(ErasureLogRow).where(ErasureLogRow.request_id == request_id).order_by(col(ErasureLogRow.id))
    ).all()
    return [ErasureRecord.model_validate(r, from_attributes=True) for r in rows]
