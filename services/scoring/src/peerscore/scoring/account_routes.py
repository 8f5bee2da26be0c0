"""Read API over accounts: the buying committee rolled up (GET /v1/accounts, /v1/accounts/{account_key})."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func
from sqlmodel import Session, col, select

from peerscore.errors import NotFound
from peerscore.events import utcnow
from peerscore.scoring import store
from peerscore.scoring.deps import ReadAccess, RulesetDep, SessionDep
from peerscore.scoring.domain.accounts import AccountMember, AccountScore, roll_up
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.identity.consent import read_score
from peerscore.scoring.models import PersonRow

MAX_MEMBERS = 500


def score_account(session: Session, account_key: str, ruleset: Ruleset) -> AccountScore | None:
    """The account's score now, rolled up from its highest-scoring :data:`MAX_MEMBERS` people."""
    account = store.load_accounts(session, [account_key]).get(account_key)
    if account is None:
        return None
    rows = session.exec(
        select(PersonRow.person_key)
        .where(PersonRow.account_key == account_key)
        .order_by(col(PersonRow.total).desc())
        .limit(MAX_MEMBERS)
    ).all()
    people = store.load_people(session, rows)
    now = utcnow()
    members = [
        # Person-only scores: the account's own reasons already speak for the committee.
        AccountMember(score=read_score(state, None, ruleset, now), traits=state.traits)  # withheld if opted out
        for state, _ in people.values()
    ]
    return roll_up(account, members, ruleset, now)


router = APIRouter(prefix="/v1/accounts", tags=["accounts"], dependencies=[ReadAccess])


@router.get("", response_model=list[AccountScore])
def list_accounts(
    session: SessionDep, ruleset: RulesetDep, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[AccountScore]:
    """The accounts whose people score highest in total (by their last stored scores)."""
    keys = session.exec(
        select(PersonRow.account_key)
        .where(col(PersonRow.account_key).is_not(None))
        .group_by(col(PersonRow.account_key))
        .order_by(func.sum(PersonRow.total).desc())
        .limit(limit)
    ).all()
    scored = [score_account(session, key, ruleset) for key in keys if key]
    return [s for s in scored if s is not None]


@router.get("/{account_key}", response_model=AccountScore)
def get_account(account_key: str, session: SessionDep, ruleset: RulesetDep) -> AccountScore:
    scored = score_account(session, account_key.strip().lower(), ruleset)
    if scored is None:
        raise NotFound("no such account")
    return scored
