"""``/v1/backtests``: start a backtest of a candidate ruleset (YAML) over a period, poll it, cancel it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from peerscore.events import utcnow
from peerscore.scoring.backtest.jobs import BacktestJobs, BacktestView
from peerscore.scoring.backtest.period import Period, parse_moment
from peerscore.scoring.domain import RulesetError, parse_ruleset


class BacktestRequest(BaseModel):
    ruleset: str = Field(min_length=1, max_length=1_000_000, description="The candidate ruleset, as YAML")
    since: str = Field(default="90d", description="90d, 12w, … or an ISO time with a zone")
    until: str | None = Field(default=None, description="Same forms; open-ended when absent")


def backtests_router(jobs: BacktestJobs, auth: Callable[..., None]) -> APIRouter:
    router = APIRouter(prefix="/v1/backtests", tags=["backtests"], dependencies=[Depends(auth)])

    @router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=BacktestView)
    def start(body: BacktestRequest) -> BacktestView:
        try:
            candidate = parse_ruleset(body.ruleset)
        except RulesetError as exc:
            raise HTTPException(422, {"ruleset": [p.model_dump() for p in exc.errors]}) from None
        now = utcnow()
        try:
            period = Period(
                since=parse_moment(body.since, now),
                until=parse_moment(body.until, now) if body.until is not None else None,
            )
        except ValueError as exc:
            raise HTTPException(422, {"period": str(exc)}) from None
        return jobs.start(candidate, period)

    @router.get("/{job_id}", response_model=BacktestView)
    def get(job_id: str) -> BacktestView:
        view = jobs.get(job_id)
        if view is None:
            raise HTTPException(404, "no such backtest")
        return view

    @router.delete("/{job_id}", status_code=status.HTTP_202_ACCEPTED, response_model=BacktestView)
    def cancel(job_id: str) -> BacktestView:
        view = jobs.cancel(job_id)
        if view is None:
            raise HTTPException(404, "no such backtest")
        return view

    return router
