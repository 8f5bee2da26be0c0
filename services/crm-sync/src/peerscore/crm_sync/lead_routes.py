"""``/v1/crm/leads``: the local CRM as JSON. Leads hold personal data, so the app includes :data:`router` behind
the bearer dependency (open only in dev without a token)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlmodel import Session

from peerscore.crm_sync.domain.mapping import LeadStatus
from peerscore.crm_sync.models import CrmLead, SyncLedger
from peerscore.crm_sync.queries import get_lead, list_failures, list_leads, sync_entries
from peerscore.errors import NotFound


def db_session(request: Request) -> Iterator[Session]:
    """A read session on the engine the app's lifespan opened (never a module-level engine)."""
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(db_session)]


class CrmLeadPublic(BaseModel):
    """A lead as the API shows it: the CRM's view, with a display name."""

    person_key: str
    email: str
    name: str | None
    title: str | None
    company: str | None
    domain: str | None
    country: str | None
    score: float
    fit: float
    engagement: float
    intent: float
    probability: float | None
    model_version: int | None
    grade: str
    level: int
    status: str
    reasons: list[str]
    groups: dict[str, float]
    lines: dict[str, dict[str, Any]] = {}
    """Per product line: score, grade and status (empty for a single-line ruleset)."""
    ruleset_version: str
    version: int
    qualified_at: datetime | None
    transitioned_at: datetime
    synced_at: datetime

    @classmethod
    def from_row(cls, lead: CrmLead) -> CrmLeadPublic:
        return cls(name=display_name(lead), **lead.model_dump())


class SyncEntryPublic(BaseModel):
    """A lead version as each CRM last saw it: synced, refused for good (with the CRM's message) or dead-lettered."""

    crm: str
    person_key: str
    last_version: int
    last_kind: str
    status: str
    error: str | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: SyncLedger) -> SyncEntryPublic:
        return cls(**row.model_dump())


def display_name(lead: CrmLead) -> str | None:
    return " ".join(part for part in (lead.first_name, lead.last_name) if part) or None


router = APIRouter(prefix="/v1/crm", tags=["crm"])


@router.get("/leads")
def leads(
    session: SessionDep,
    lead_status: Annotated[LeadStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CrmLeadPublic]:
    return [CrmLeadPublic.from_row(lead) for lead in list_leads(session, status=lead_status, limit=limit)]


@router.get("/leads/{person_key}")
def lead(person_key: str, session: SessionDep) -> CrmLeadPublic:
    row = get_lead(session, person_key)
    if row is None:
        raise NotFound("no such lead in the local CRM")
    return CrmLeadPublic.from_row(row)


@router.get("/leads/{person_key}/sync")
def lead_sync(person_key: str, session: SessionDep) -> list[SyncEntryPublic]:
    """Every CRM's ledger entry for the lead, whichever CRM is configured (remote CRMs have no local row)."""
    return [SyncEntryPublic.from_row(row) for row in sync_entries(session, person_key)]


@router.get("/failures")
def failures(
    session: SessionDep,
    crm: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SyncEntryPublic]:
    """Leads a CRM refused for good or that were dead-lettered, newest first."""
    return [SyncEntryPublic.from_row(row) for row in list_failures(session, crm=crm, limit=limit)]
