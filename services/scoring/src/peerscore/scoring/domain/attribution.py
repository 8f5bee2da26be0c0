"""Content and channel influence, the counting half: people's touches and conversions → report rows. Pure.

For every dimension (:data:`~.influence.DIMENSIONS`), item and split (``earned``/``paid``) a row says:

- **touched**: people with at least one such touch in the window;
- **mqls / opportunities / wins**: those of them whose first such conversion came *after* their first such touch
  (a touch after the outcome influenced nothing);
- **lift** per conversion: the touched people's rate ÷ the rate of the *comparable untouched* people, i.e. every
  other person active in the same window (at least one touch of any kind in it), counted as converted when the
  conversion came after their first touch in the window. None when the untouched rate is 0 or nobody is left;
- **attribution** of opportunities and wins: each converting person's touches in the window *before* the
  conversion (those with a value in the dimension) share one conversion: all to the first touch
  (first-touch), all to the last (last-touch), or 40 % first, 40 % last and 20 % spread over the ones between
  (position-based; one touch takes all, two take half each).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .influence import DIMENSIONS, Touch, values

METRICS = ("mql", "opportunity", "won")
ATTRIBUTED = ("opportunity", "won")
MODELS = ("first", "last", "position")
SPLITS = ("earned", "paid")
RowKey = tuple[str, str, str]
"""``(dimension, item, split)``."""


@dataclass
class Row:
    touched: int = 0
    converted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))
    active_converted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))
    credit: dict[str, float] = field(default_factory=dict)  # "<model>_<metric>" → credit


@dataclass(frozen=True)
class Influence:
    people: int
    """People active in the window (the population lift is measured in)."""
    converted: dict[str, int]
    """Of them, converted after their first touch in the window, per metric."""
    rows: dict[RowKey, Row]


def position_weights(n: int) -> list[float]:
    """40/20/40: the first and last touch 40 % each, the middle ones share 20 %; 1 → [1], 2 → [.5, .5]."""
    if n <= 0:
        return []
    if n == 1:
        return [1.0]
    if n == 2:
        return [0.5, 0.5]
    middle = 0.2 / (n - 2)
    return [0.4, *([middle] * (n - 2)), 0.4]


def _row(rows: dict[RowKey, Row], key: RowKey) -> Row:
    row = rows.get(key)
    if row is None:
        row = rows[key] = Row()
    return row


def _attribute(rows: dict[RowKey, Row], touches: Sequence[Touch], metric: str, at: int) -> None:
    before = [t for t in touches if t.at < at]
    for index, dimension in enumerate(DIMENSIONS):
        chain = [(values(t)[index], SPLITS[t.paid]) for t in before if values(t)[index]]
        if not chain:
            continue
        ends = (("first", chain[0]), ("last", chain[-1]))
        for model, (value, split) in ends:
            credit = _row(rows, (dimension, value, split)).credit
            credit[f"{model}_{metric}"] = credit.get(f"{model}_{metric}", 0.0) + 1.0
        for (value, split), weight in zip(chain, position_weights(len(chain)), strict=True):
            credit = _row(rows, (dimension, value, split)).credit
            credit[f"position_{metric}"] = credit.get(f"position_{metric}", 0.0) + weight


def _count_person(
    rows: dict[RowKey, Row], touches: Sequence[Touch], conversions: Mapping[str, int], totals: dict[str, int]
) -> None:
    start = touches[0].at
    active = {m: at for m, at in conversions.items() if at > start}
    for metric in active:
        totals[metric] += 1
    first: dict[RowKey, int] = {}
    for touch in touches:
        split = SPLITS[touch.paid]
        for dimension, value in zip(DIMENSIONS, values(touch), strict=True):
            if value:
                first.setdefault((dimension, value, split), touch.at)
    for key, at in first.items():
        row = _row(rows, key)
        row.touched += 1
        for metric, converted_at in conversions.items():
            if converted_at > at:
                row.converted[metric] += 1
        for metric in active:
            row.active_converted[metric] += 1
    for metric in ATTRIBUTED:
        if metric in conversions:
            _attribute(rows, touches, metric, conversions[metric])


def influence(people: Iterable[tuple[Sequence[Touch], Mapping[str, int]]], *, since: int | None = None) -> Influence:
    """Count ``(touches in time order, first conversion time per metric)`` of every person; touches before
    ``since`` (epoch seconds) are left out, and people with no touch left are not in the population."""
    rows: dict[RowKey, Row] = {}
    totals = dict.fromkeys(METRICS, 0)
    population = 0
    for touches, conversions in people:
        kept = touches if since is None else [t for t in touches if t.at >= since]
        if not kept:
            continue
        population += 1
        _count_person(rows, kept, conversions, totals)
    return Influence(people=population, converted=totals, rows=rows)


def lift(row: Row, report: Influence, metric: str) -> float | None:
    """Rate among the touched ÷ rate among the comparable untouched (see the module's docstring)."""
    untouched = report.people - row.touched
    untouched_converted = report.converted[metric] - row.active_converted[metric]
    if row.touched == 0 or untouched <= 0 or untouched_converted <= 0:
        return None
    return (row.converted[metric] / row.touched) / (untouched_converted / untouched)


def report_rows(report: Influence) -> list[dict[str, object]]:
    """Flat rows (JSON and CSV shaped), by dimension, then most people touched, then item and split."""
    out: list[dict[str, object]] = []
    order = sorted(report.rows.items(), key=lambda kv: (DIMENSIONS.index(kv[0][0]), -kv[1].touched, kv[0][1:]))
    for (dimension, item, split), row in order:
        values: dict[str, object] = {
            "dimension": dimension,
            "item": item,
            "split": split,
            "touched": row.touched,
            "mqls": row.converted["mql"],
            "opportunities": row.converted["opportunity"],
            "wins": row.converted["won"],
        }
        for metric in METRICS:
            value = lift(row, report, metric)
            values[f"lift_{metric}"] = None if value is None else round(value, 6)
        for model in MODELS:
            for metric in ATTRIBUTED:
                values[f"{model}_{metric}"] = round(row.credit.get(f"{model}_{metric}", 0.0), 6)
        out.append(values)
    return out
