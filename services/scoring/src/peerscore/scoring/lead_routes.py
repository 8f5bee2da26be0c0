"""Read API over scored leads: what sales and the console ask ("why is this lead hot?").

Looking a lead up by email is ``POST /v1/leads/search`` with the email in the JSON body: in a query string it
lands in proxy and access logs. ``GET /v1/leads?email=`` still answers for one release, marked deprecated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from peerscore.api import deprecate_email_in_url
from peerscore.errors import NotFound
from peerscore.events import LeadScore, LineScore, utcnow
from peerscore.identity import normalise_email
from peerscore.scoring import store
from peerscore.scoring.deps import ReadAccess, RulesetDep, SessionDep
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.identity.consent import read_score
from peerscore.scoring.models import LedgerRow, PersonRow


class LeadView(BaseModel):
    person_key: str
    email: str | None
    account_key: str | None
    fit: float
    engagement: float
    intent: float
    groups: dict[str, float]
    total: float
    grade: str
    level: int
    qualified: bool
    reasons: list[str]
    version: int
    ruleset_version: str
    as_of: datetime
    conversion_probability: float | None = Field(
        default=None, description="The champion model's calibrated probability of converting, as last scored"
    )
    model_version: int | None = Field(default=None, description="The model behind conversion_probability")
    lines: dict[str, LineScore] = Field(
        default_factory=dict, description="Per product line: score, grade, level, MQL flag, reasons (none without)"
    )


class LedgerEntry(BaseModel):
    rule_id: str
    group: str
    points: float
    event_id: str
    occurred_at: datetime
    ruleset_version: str


def model_probability(stored: LeadScore | None, score: LeadScore) -> tuple[float | None, int | None]:
    """(probability, model version) as the model scored the lead at its last event (rules are re-read at
    ``as_of``, a model is not); withheld (opted-out) leads show none, like their score."""
    if stored is None or score.withheld is not None or stored.withheld is not None:
        return None, None
    return stored.conversion_probability, stored.model_version


class LeadSearch(BaseModel):
    """``POST /v1/leads/search``: the same filters as ``GET /v1/leads``, with the email out of the URL."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    qualified: bool | None = None
    limit: int = Field(default=50, ge=1, le=500)


def lead_view(session: Session, row: PersonRow, ruleset: Ruleset) -> LeadView:
    """A lead as it is now: rules re-read at this instant, the model's probability as of its last event."""
    person, stored = store.load_people(session, [row.person_key])[row.person_key]
    account = None
    if person.account_key:
        account = store.load_accounts(session, [person.account_key]).get(person.account_key)
    score = read_score(person, account, ruleset, as_of=utcnow())  # withheld when opted out
    probability, model_version = model_probability(stored, score)
    return LeadView(
        person_key=row.person_key,
        email=row.email,
        account_key=person.account_key,
        fit=score.fit,
        engagement=score.engagement,
        intent=score.intent,
        groups=score.groups,
        total=score.total,
        grade=score.grade,
        level=score.level,
        qualified=person.qualified,
        reasons=score.reasons,
        version=person.version,
        ruleset_version=score.ruleset_version,
        as_of=score.as_of,
        conversion_probability=probability,
        model_version=model_version,
        lines=score.lines,
    )


def _search(
    session: Session, ruleset: Ruleset, email: str | None, qualified: bool | None, limit: int
) -> list[LeadView]:
    query = select(PersonRow)
    if email is not None:
        query = query.where(PersonRow.email == normalise_email(email))
    if qualified is not None:
        query = query.where(PersonRow.qualified == qualified)
    rows = session.exec(query.order_by(col(PersonRow.total).desc()).limit(limit)).all()
    return [lead_view(session, r, ruleset) for r in rows]


router = APIRouter(prefix="/v1/leads", tags=["leads"], dependencies=[ReadAccess])


@router.get("", response_model=list[LeadView])
def list_leads(
    session: SessionDep,
    ruleset: RulesetDep,
    response: Response,
    email: Annotated[str | None, Query(max_length=320, deprecated=True)] = None,
    qualified: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[LeadView]:
    """The highest-scoring leads (by their last stored total). ``email`` here is deprecated: use
    ``POST /v1/leads/search``."""
    if email is not None:
        deprecate_email_in_url(response, endpoint="GET /v1/leads?email=", successor="/v1/leads/search")
    return _search(session, ruleset, email, qualified, limit)


@router.post("/search", response_model=list[LeadView])
def search_leads(body: LeadSearch, session: SessionDep, ruleset: RulesetDep) -> list[LeadView]:
    """Leads by email (in the body, so it stays out of URLs and logs), or the highest-scoring ones."""
    return _search(session, ruleset, body.email, body.qualified, body.limit)


@router.get("/{person_key}", response_model=LeadView)
def get_lead(person_key: str, session: SessionDep, ruleset: RulesetDep) -> LeadView:
    row = session.get(PersonRow, person_key)
    if row is None:
        raise NotFound("no such lead")
    return lead_view(session, row, ruleset)


@router.get("/{person_key}/ledger", response_model=list[LedgerEntry])
def get_ledger(
    person_key: str, session: SessionDep, limit: Annotated[int, Query(ge=1, le=5000)] = 500
) -> list[LedgerEntry]:
    """Every point awarded to the lead, newest first: the audit trail behind the score."""
    if session.get(PersonRow, person_key) is None:
        raise NotFound("no such lead")
    rows = session.exec(
        select(LedgerRow)
        .where(LedgerRow.person_key == person_key)
        .order_by(col(LedgerRow.occurred_at).desc(), col(LedgerRow.id).desc())
        .limit(limit)
    ).all()
    return [LedgerEntry.model_validate(r, from_attributes=True) for r in rows]
