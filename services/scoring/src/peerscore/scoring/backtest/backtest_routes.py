"""``/v1/backtests``: start a backtest of a candidate ruleset (YAML) over a period, poll it, cancel it.

What-if runs change nothing, so the read token is enough.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from peerscore.errors import NotFound, Unprocessable
from peerscore.events import utcnow
from peerscore.scoring.backtest.jobs import BacktestView
from peerscore.scoring.backtest.period import Period, parse_moment
from peerscore.scoring.deps import BacktestsDep, ReadAccess
from peerscore.scoring.domain import RulesetError, parse_ruleset


class BacktestRequest(BaseModel):
    ruleset: str = Field(min_length=1, max_length=1_000_000, description="The candidate ruleset, as YAML")
    since: str = Field(default="90d", description="90d, 12w, … or an ISO time with a zone")
    until: str | None = Field(default=None, description="Same forms; open-ended when absent")


def requested_period(body: BacktestRequest) -> Period:
    """The period the request names, relative spellings read from now (422 naming ``period`` when unusable)."""
    now = utcnow()
    try:
        return Period(
            since=parse_moment(body.since, now),
            until=parse_moment(body.until, now) if body.until is not None else None,
        )
    except ValueError as exc:
        raise Unprocessable({"period": str(exc)}) from None


router = APIRouter(prefix="/v1/backtests", tags=["backtests"], dependencies=[ReadAccess])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=BacktestView)
def start_backtest(body: BacktestRequest, jobs: BacktestsDep) -> BacktestView:
    try:
        candidate = parse_ruleset(body.ruleset)
    except RulesetError as exc:
        raise Unprocessable({"ruleset": [p.model_dump() for p in exc.errors]}) from None
    return jobs.start(candidate, requested_period(body))


@router.get("/{job_id}", response_model=BacktestView)
def get_backtest(job_id: str, jobs: BacktestsDep) -> BacktestView:
    view = jobs.get(job_id)
    if view is None:
        raise NotFound("no such backtest")
    return view


@router.delete("/{job_id}", status_code=status.HTTP_202_ACCEPTED, response_model=BacktestView)
def cancel_backtest(job_id: str, jobs: BacktestsDep) -> BacktestView:
    view = jobs.cancel(job_id)
    if view is None:
        raise NotFound("no such backtest")
    return view
