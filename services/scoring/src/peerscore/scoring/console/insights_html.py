"""HTML of ``/console/insights``: content and channel influence from the latest snapshot, as bar charts (inline
SVG, :mod:`.charts`) and a table, with a CSV download of the same rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from peerscore.scoring.domain.influence import DIMENSIONS
from peerscore.scoring.insights.views import InfluenceView

from .charts import Series, grouped_bars
from .html import esc, notice, num, table, url, when

WINDOW_LABELS = (("all", "all stored history"), ("90d", "last 90 days"), ("30d", "last 30 days"))
DIMENSION_LABELS = {
    "content": "Content item",
    "source": "UTM source",
    "medium": "UTM medium",
    "campaign": "UTM campaign",
    "referrer": "Referrer class",
    "linkedin": "LinkedIn organic vs paid",
}
TOP = 10
LABEL = 16


def _short(item: str) -> str:
    return item if len(item) <= LABEL else item[: LABEL - 1] + "…"


def _by_item(rows: Sequence[dict[str, Any]], field: str) -> list[tuple[str, float, float]]:
    """``(item, earned value, paid value)`` for the items most people touched."""
    merged: dict[str, list[float]] = {}
    touched: dict[str, int] = {}
    for row in rows:
        values = merged.setdefault(row["item"], [0.0, 0.0])
        values[0 if row["split"] == "earned" else 1] += float(row.get(field) or 0)
        touched[row["item"]] = touched.get(row["item"], 0) + int(row["touched"])
    top = sorted(merged, key=lambda item: (-touched[item], item))[:TOP]
    return [(item, merged[item][0], merged[item][1]) for item in top]


def _split_chart(rows: Sequence[dict[str, Any]], field: str, title: str, what: str) -> str:
    items = _by_item(rows, field)
    return grouped_bars(
        title,
        [_short(i) for i, _, _ in items],
        [Series("earned", [e for _, e, _ in items]), Series("paid", [p for _, _, p in items])],
        summary=f"{what} per item, earned and paid, for the {len(items)} items most people touched",
    )


def _attribution_chart(rows: Sequence[dict[str, Any]]) -> str:
    credit: dict[str, list[float]] = {}
    for row in rows:
        values = credit.setdefault(row["item"], [0.0, 0.0, 0.0])
        for i, model in enumerate(("first", "last", "position")):
            values[i] += float(row.get(f"{model}_won") or 0)
    top = sorted(credit, key=lambda item: (-sum(credit[item]), item))[:TOP]
    return grouped_bars(
        "Wins credited: first-touch, last-touch and position-based (40/20/40)",
        [_short(i) for i in top],
        [
            Series(name, [credit[i][n] for i in top])
            for n, name in enumerate(("first-touch", "last-touch", "position-based"))
        ],
        summary="Wins credited to each item under three attribution models",
    )


def _lift(value: object) -> str:
    return "—" if value is None else f"{float(str(value)):.2f}×"


def _table(rows: Sequence[dict[str, Any]], dimension: str) -> str:
    body = [
        [
            f"<code>{esc(r['item'])}</code>",
            esc(r["split"]),
            f"{r['touched']:,}",
            f"{r['mqls']:,}",
            f"{r['opportunities']:,}",
            f"{r['wins']:,}",
            _lift(r["lift_mql"]),
            _lift(r["lift_won"]),
            num(r["first_won"], 2),
            num(r["last_won"], 2),
            num(r["position_won"], 2),
        ]
        for r in rows
    ]
    headers = ["Item", "Split", "Touched", "MQLs", "Opps", "Wins", "Lift MQL", "Lift win"]
    return table(
        [*headers, "Wins first-touch", "Wins last-touch", "Wins position"],
        body,
        caption=f"Influence by {DIMENSION_LABELS[dimension].lower()}",
        empty="No touches in this window.",
    )


def _form(window: str, dimension: str) -> str:
    windows = "".join(
        f'<option value="{k}"{" selected" if k == window else ""}>{esc(v)}</option>' for k, v in WINDOW_LABELS
    )
    dimensions = "".join(
        f'<option value="{d}"{" selected" if d == dimension else ""}>{esc(DIMENSION_LABELS[d])}</option>'
        for d in DIMENSIONS
    )
    return (
        f'<form method="get" action="{url("/insights")}" class="inline"><label for="window">Window</label> '
        f'<select id="window" name="window">{windows}</select> <label for="dimension">Group by</label> '
        f'<select id="dimension" name="dimension">{dimensions}</select> <button type="submit">Show</button></form>'
    )


def insights_body(view: InfluenceView | None, window: str, dimension: str) -> str:
    intro = (
        "<p>Which content and channels touched the people who became MQLs, opportunities and wins. A touch counts "
        "for a conversion only when it came before it; lift compares the touched people's rate with the other "
        "people active in the same window. Paid: a paid UTM medium, LinkedIn sponsored content or lead-gen forms; "
        "earned: everything else.</p>"
    )
    if view is None:
        return intro + notice("No influence report yet: run `peerscore insights build`.", "warn")
    csv_link = url("/insights.csv", window=window, dimension=dimension)
    summary = notice(
        f"{view.people:,} people active; {view.converted.get('mql', 0):,} MQLs, "
        f"{view.converted.get('opportunity', 0):,} opportunities and {view.converted.get('won', 0):,} wins after "
        "their first touch."
    )
    meta = (
        f"<p>Snapshot built {when(view.built_at)}, newest touch {when(view.as_of)}. "
        f'<a class="button" href="{esc(csv_link)}" download>Download CSV</a></p>'
    )
    charts = (
        _split_chart(view.rows, "touched", "People touched, earned vs paid", "People touched")
        + _split_chart(view.rows, "wins", "Wins after the touch, earned vs paid", "Wins")
        + _attribution_chart(view.rows)
    )
    return intro + _form(window, dimension) + summary + meta + charts + _table(view.rows, dimension)
