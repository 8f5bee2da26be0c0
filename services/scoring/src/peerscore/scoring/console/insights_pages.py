"""``/console/insights``: the content and channel influence report, and ``/console/insights.csv`` (its rows as
a download for a signed-in marketer). Both read the latest snapshot only (see :mod:`..insights.job`)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from peerscore.scoring.deps import EngineDep
from peerscore.scoring.domain.influence import DIMENSIONS
from peerscore.scoring.insights.views import as_csv, csv_filename, select_view

from .insights_html import insights_body
from .web import SignedIn, WebDep

router = APIRouter()
WINDOW_PATTERN = "^(all|90d|30d)$"
DIMENSION_PATTERN = "^(" + "|".join(DIMENSIONS) + ")$"


@router.get("/insights", response_class=HTMLResponse, name="console_insights")
async def insights(
    web: WebDep,
    sess: SignedIn,
    engine: EngineDep,
    window: str = Query(default="all", pattern=WINDOW_PATTERN),
    dimension: str = Query(default="content", pattern=DIMENSION_PATTERN),
) -> Response:
    view = await run_in_threadpool(select_view, engine, window=window, dimension=dimension)
    return web.page(sess, "Content and channel influence", insights_body(view, window, dimension), active="insights")


@router.get("/insights.csv", name="console_insights_csv")
async def insights_csv(
    web: WebDep,
    sess: SignedIn,
    engine: EngineDep,
    window: str = Query(default="all", pattern=WINDOW_PATTERN),
    dimension: str | None = Query(default=None, pattern=DIMENSION_PATTERN),
) -> Response:
    view = await run_in_threadpool(select_view, engine, window=window, dimension=dimension, limit=5000)
    if view is None:
        return web.page(
            sess, "Content and channel influence", insights_body(None, window, "content"), active="insights"
        )
    headers = {"Content-Disposition": f'attachment; filename="{csv_filename(view)}"'}
    return Response(as_csv(view), media_type="text/csv; charset=utf-8", headers=headers)
