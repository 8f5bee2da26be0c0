"""Read API over accounts: the buying committee rolled up (GET /v1/accounts, /v1/accounts/{account_key})."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from peerscore.events import utcnow
from peerscore.scoring import store
from peerscore.scoring.domain.accounts import AccountMember, AccountScore, roll_up
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.identity.consent import read_score
from peerscore.scoring.models import PersonRow

MAX_MEMBERS = 500


def accounts_router(engine: Engine, ruleset: Callable[[], Ruleset], auth: Callable[..., None]) -> APIRouter:
    router = APIRouter(prefix="/v1/accounts", tags=["accounts"], dependencies=[Depends(auth)])

    def score_account(session: Session, account_key: str) -> AccountScore | None:
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
        now, current = utcnow(), ruleset()
        members = [
            # Person-only scores: the account's own reasons already speak for the committee.
            AccountMember(score=read_score(state, None, current, now), traits=state.traits)  # withheld if opted out
            for state, _ in people.values()
        ]
        return roll_up(account, members, current, now)

    @router.get("", response_model=list[AccountScore])
    def list_accounts(limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[AccountScore]:
        """The accounts whose people score highest in total (by their last stored scores)."""
        with Session(engine) as session:
            keys = session.exec(
                select(PersonRow.account_key)
                .where(col(PersonRow.account_key).is_not(None))
                .group_by(col(PersonRow.account_key))
                .order_by(func.sum(PersonRow.total).desc())
                .limit(limit)
            ).all()
            scored = [score_account(session, key) for key in keys if key]
            return [s for s in scored if s is not None]

    @router.get("/{account_key}", response_model=AccountScore)
    def get_account(account_key: str) -> AccountScore:
        with Session(engine) as session:
            scored = score_account(session, account_key.strip().lower())
            if scored is None:
                raise HTTPException(404, "no such account")
            return scored

    return router
