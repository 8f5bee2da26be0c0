"""Read API over the unscored-signal report: which kinds of event no rule scores, by volume.

Rules only score what they name; this is where a marketer (or the console's signals page) sees what falls
through: per event type, name, source and page class, the events and distinct people over a window of days,
their share of all events, and a few examples (paths with ids stripped, property names; never values).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from peerscore.events import utcnow
from peerscore.scoring.deps import ReadAccess, SessionDep
from peerscore.scoring.signals import UnscoredReport, unscored_report

MAX_DAYS = 366


class UnscoredSignalView(BaseModel):
    type: str
    name: str = Field(description="The event's name as the source sent it (empty for page views and the like)")
    source: str
    page: str = Field(description="Page class: pricing, demo, comparison, customers, docs, careers, blog, other")
    events: int
    people: int = Field(description="Distinct people who sent it in the window")
    share: float = Field(description="Of all events in the window (system and profile events aside)")
    examples: list[str]


class UnscoredSignalsView(BaseModel):
    since: date
    until: date
    days: int
    events: int = Field(description="Every countable event in the window")
    unscored_events: int
    unscored_share: float
    signals: list[UnscoredSignalView]


def report_view(report: UnscoredReport, days: int) -> UnscoredSignalsView:
    return UnscoredSignalsView(
        since=report.since,
        until=report.until,
        days=days,
        events=report.events,
        unscored_events=report.unscored_events,
        unscored_share=report.share,
        signals=[UnscoredSignalView.model_validate(signal, from_attributes=True) for signal in report.signals],
    )


router = APIRouter(prefix="/v1/signals", tags=["signals"], dependencies=[ReadAccess])


@router.get("/unscored", response_model=UnscoredSignalsView, name="unscored_signals")
def unscored_signals(
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="Window, in days up to today (UTC)")] = 30,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> UnscoredSignalsView:
    """Kinds of event no rule of the live ruleset scored, most frequent first."""
    report = unscored_report(session, today=utcnow().date(), days=days, limit=limit)
    return report_view(report, days)
