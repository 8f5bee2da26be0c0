"""Read API over the content and channel influence report: ``GET /v1/insights/content`` (JSON, or CSV with
``?format=csv``) and ``GET /v1/insights/content.csv``.

Both read the latest snapshot the influence job stored (``peerscore insights build``), never the history: a
request costs one row read whatever the history's size. 404 until the first build.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from peerscore.errors import NotFound
from peerscore.scoring.deps import EngineDep, ReadAccess
from peerscore.scoring.insights.views import InfluenceView, Split, Window, as_csv, csv_filename, select_view

Dimension = Literal["content", "source", "medium", "campaign", "referrer", "linkedin"]
NOT_BUILT = "no influence report yet: run `peerscore insights build`"


class InfluenceRowView(BaseModel):
    dimension: str = Field(description="content, source, medium, campaign, referrer or linkedin")
    item: str = Field(description="page:pricing, asset:<name>, webinar:<name>, linkedin_post:<urn>, a UTM value…")
    split: str = Field(description="earned or paid")
    touched: int = Field(description="People with at least one such touch in the window")
    mqls: int = Field(description="Of them, became an MQL after their first such touch")
    opportunities: int
    wins: int
    lift_mql: float | None = Field(description="Touched rate ÷ the rate of the other people active in the window")
    lift_opportunity: float | None
    lift_won: float | None
    first_opportunity: float = Field(description="First-touch credit (opportunities)")
    last_opportunity: float
    position_opportunity: float = Field(description="Position-based 40/20/40 credit (opportunities)")
    first_won: float
    last_won: float
    position_won: float


class InfluenceReportView(BaseModel):
    built_at: datetime = Field(description="When the snapshot was computed")
    as_of: datetime | None = Field(description="The newest touch it includes")
    window: str
    since: datetime | None
    people: int = Field(description="People active in the window (the lift's population)")
    converted: dict[str, int]
    rows: list[InfluenceRowView]


def _view(engine: EngineDep, window: str, dimension: str | None, split: str, limit: int) -> InfluenceView:
    view = select_view(engine, window=window, dimension=dimension, split=split, limit=limit)
    if view is None:
        raise NotFound(NOT_BUILT)
    return view


def _csv_response(view: InfluenceView) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{csv_filename(view)}"'}
    return Response(as_csv(view), media_type="text/csv; charset=utf-8", headers=headers)


router = APIRouter(prefix="/v1/insights", tags=["insights"], dependencies=[ReadAccess])

WindowQuery = Annotated[Window, Query(description="all stored history, or the last 90 or 30 days")]
DimensionQuery = Annotated[Dimension | None, Query(description="Only this dimension")]
SplitQuery = Annotated[Split, Query(description="earned, paid, or both")]
LimitQuery = Annotated[int, Query(ge=1, le=5000, description="Most rows per dimension")]


@router.get("/content", response_model=InfluenceReportView, name="content_influence")
async def content_influence(
    engine: EngineDep,
    window: WindowQuery = "all",
    dimension: DimensionQuery = None,
    split: SplitQuery = "all",
    limit: LimitQuery = 500,
    format: Annotated[Literal["json", "csv"], Query()] = "json",  # noqa: A002 - the query parameter's name
) -> InfluenceReportView | Response:
    """Per content item and channel: people touched, MQLs, opportunities and wins after the touch, lift over the
    untouched, and first-touch, last-touch and position-based credit, split earned vs paid."""
    view = await run_in_threadpool(_view, engine, window, dimension, split, limit)
    if format == "csv":
        return _csv_response(view)
    return InfluenceReportView.model_validate(view, from_attributes=True)


@router.get("/content.csv", response_class=Response, name="content_influence_csv")
async def content_influence_csv(
    engine: EngineDep,
    window: WindowQuery = "all",
    dimension: DimensionQuery = None,
    split: SplitQuery = "all",
    limit: LimitQuery = 5000,
) -> Response:
    """The same rows as CSV (a download)."""
    view = await run_in_threadpool(_view, engine, window, dimension, split, limit)
    return _csv_response(view)
