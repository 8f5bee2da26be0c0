"""What readers get from the stored snapshot: one window's rows, filtered, as a view or as CSV. No history read."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.scoring.domain.influence import DIMENSIONS
from peerscore.scoring.insights.job import WINDOWS, latest

Window = Literal["all", "90d", "30d"]
Split = Literal["all", "earned", "paid"]
CSV_COLUMNS = (
    "dimension",
    "item",
    "split",
    "touched",
    "mqls",
    "opportunities",
    "wins",
    "lift_mql",
    "lift_opportunity",
    "lift_won",
    "first_opportunity",
    "last_opportunity",
    "position_opportunity",
    "first_won",
    "last_won",
    "position_won",
)


@dataclass(frozen=True)
class InfluenceView:
    built_at: datetime
    as_of: datetime | None
    window: str
    since: datetime | None
    people: int
    converted: dict[str, int]
    rows: list[dict[str, Any]]


def _time(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def select_view(
    engine: Engine, *, window: str = "all", dimension: str | None = None, split: str = "all", limit: int = 500
) -> InfluenceView | None:
    """One window of the latest snapshot (None before the first build); rows of one dimension and split when
    asked, at most ``limit`` per dimension (most people touched first)."""
    if window not in WINDOWS:
        window = "all"
    with Session(engine) as session:
        snapshot = latest(session)
        if snapshot is None:
            return None
        built_at, report = snapshot.built_at, snapshot.report
    part = report["windows"].get(window) or {"since": None, "people": 0, "converted": {}, "rows": []}
    rows: list[dict[str, Any]] = []
    per_dimension: dict[str, int] = {}
    for row in part["rows"]:
        if dimension is not None and row["dimension"] != dimension:
            continue
        if split != "all" and row["split"] != split:
            continue
        seen = per_dimension.get(row["dimension"], 0)
        if seen < limit:
            rows.append(row)
            per_dimension[row["dimension"]] = seen + 1
    return InfluenceView(
        built_at=built_at,
        as_of=_time(report.get("as_of")),
        window=window,
        since=_time(part["since"]),
        people=int(part["people"]),
        converted=dict(part["converted"]),
        rows=rows,
    )


def as_csv(view: InfluenceView) -> str:
    """The rows as CSV (one header line; empty lift cells where it is undefined)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in view.rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    return out.getvalue()


def csv_filename(view: InfluenceView) -> str:
    return f"peerscore-influence-{view.window}-{view.built_at.strftime('%Y%m%dT%H%M%SZ')}.csv"


__all__ = ["CSV_COLUMNS", "DIMENSIONS", "InfluenceView", "Split", "Window", "as_csv", "csv_filename", "select_view"]
