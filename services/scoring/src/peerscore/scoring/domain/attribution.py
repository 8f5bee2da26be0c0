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

Counting works on a :class:`TouchTable` (numpy columns, one row per touch, item names as codes of a vocabulary)
so a million touches are counted in array operations, not per-touch Python; :func:`table_of` builds one from
:class:`~.influence.Touch` lists (tests, small inputs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .influence import DIMENSIONS, Touch, values

METRICS = ("mql", "opportunity", "won")
ATTRIBUTED = ("opportunity", "won")
MODELS = ("first", "last", "position")
SPLITS = ("earned", "paid")
NEVER = -1
"""A conversion time meaning "did not convert": no touch comes before it."""
RowKey = tuple[str, str, str]
"""``(dimension, item, split)``."""
Ints = npt.NDArray[np.int64]


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


@dataclass(frozen=True)
class TouchTable:
    """Every touch: ``person`` (index into the conversion arrays), ``at`` (epoch seconds), ``codes`` (one column
    per dimension: an index into ``vocabulary``, -1 for none) and ``paid``; sorted by person, time, then the
    order the events were stored in."""

    person: Ints
    at: Ints
    codes: Ints
    paid: Ints
    vocabulary: Sequence[str]

    @staticmethod
    def sorted(person: Ints, at: Ints, seq: Ints, codes: Ints, paid: Ints, vocabulary: Sequence[str]) -> TouchTable:
        order = np.lexsort((seq, at, person))
        return TouchTable(person[order], at[order], codes[order], paid[order], vocabulary)


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


def _starts(person: Ints) -> Ints:
    """Index of each person's first row (rows sorted by person)."""
    if len(person) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, person[1:] != person[:-1]])


def _add(rows: dict[RowKey, Row], names: dict[int, RowKey], counts: Ints | npt.NDArray[np.float64], put: str) -> None:
    for key in np.flatnonzero(counts):
        row = rows.setdefault(names[int(key)], Row())
        target, _, metric = put.partition(":")
        if target == "touched":
            row.touched += int(counts[key])
        elif target == "converted":
            row.converted[metric] += int(counts[key])
        elif target == "active":
            row.active_converted[metric] += int(counts[key])
        else:
            row.credit[metric] = row.credit.get(metric, 0.0) + float(counts[key])


def _credit(
    rows: dict[RowKey, Row],
    names: dict[int, RowKey],
    size: int,
    key: Ints,
    person: Ints,
    at: Ints,
    converted: Ints,
    metric: str,
) -> None:
    """First-, last-touch and position-based credit of ``metric`` among one dimension's touches in the window."""
    keep = at < converted[person]
    key, person = key[keep], person[keep]
    if len(key) == 0:
        return
    starts = _starts(person)
    counts = np.diff(np.r_[starts, len(person)])
    ends = starts + counts - 1
    n = np.repeat(counts, counts)
    rank = np.arange(len(person)) - np.repeat(starts, counts)
    middle = 0.2 / np.maximum(n - 2, 1)
    weight = np.where(n == 1, 1.0, np.where(n == 2, 0.5, np.where((rank == 0) | (rank == n - 1), 0.4, middle)))
    _add(rows, names, np.bincount(key[starts], minlength=size), f"credit:first_{metric}")
    _add(rows, names, np.bincount(key[ends], minlength=size), f"credit:last_{metric}")
    _add(rows, names, np.bincount(key, weights=weight, minlength=size), f"credit:position_{metric}")


def _dimension(
    rows: dict[RowKey, Row],
    table: TouchTable,
    index: int,
    mask: npt.NDArray[np.bool_],
    first_at: Ints,
    conversions: Mapping[str, Ints],
) -> None:
    codes = table.codes[:, index]
    keep = mask & (codes >= 0)
    code, paid, person, at = codes[keep], table.paid[keep], table.person[keep], table.at[keep]
    key = code * 2 + paid
    size = 2 * len(table.vocabulary)
    names = {
        c * 2 + p: (DIMENSIONS[index], table.vocabulary[c], SPLITS[p]) for c in np.unique(code).tolist() for p in (0, 1)
    }
    _, first = np.unique(person * size + key, return_index=True)  # each person's earliest touch of each key
    first_key, first_person, first_touch = key[first], person[first], at[first]
    _add(rows, names, np.bincount(first_key, minlength=size), "touched")
    for metric in METRICS:
        converted = conversions[metric][first_person]
        _add(
            rows, names, np.bincount(first_key, weights=converted > first_touch, minlength=size), f"converted:{metric}"
        )
        active = converted > first_at[first_person]
        _add(rows, names, np.bincount(first_key, weights=active, minlength=size), f"active:{metric}")
    for metric in ATTRIBUTED:
        _credit(rows, names, size, key, person, at, conversions[metric], metric)


def influence(table: TouchTable, conversions: Mapping[str, Ints], *, since: int | None = None) -> Influence:
    """Count the touches at or after ``since`` (epoch seconds; all with None) against ``conversions`` (per
    metric, each person's first conversion time or :data:`NEVER`, indexed like ``table.person``)."""
    mask = np.ones(len(table.at), dtype=bool) if since is None else table.at >= since
    person, at = table.person[mask], table.at[mask]
    starts = _starts(person)
    people = len(starts)
    first_at = np.zeros(len(conversions[METRICS[0]]), dtype=np.int64)  # read for people in the window only
    first_at[person[starts]] = at[starts]
    totals = {m: int(np.count_nonzero(conversions[m][person[starts]] > at[starts])) for m in METRICS}
    rows: dict[RowKey, Row] = {}
    for index in range(len(DIMENSIONS)):
        _dimension(rows, table, index, mask, first_at, conversions)
    return Influence(people=people, converted=totals, rows=rows)


def table_of(
    people: Iterable[tuple[Sequence[Touch], Mapping[str, int]]],
) -> tuple[TouchTable, dict[str, Ints]]:
    """A :class:`TouchTable` and conversion arrays from per-person touch lists (for tests and small inputs)."""
    vocabulary: dict[str, int] = {}
    person: list[int] = []
    at: list[int] = []
    seq: list[int] = []
    codes: list[list[int]] = []
    paid: list[int] = []
    firsts: dict[str, list[int]] = {m: [] for m in METRICS}
    for index, (touches, converted) in enumerate(people):
        for touch in touches:
            person.append(index)
            at.append(touch.at)
            seq.append(len(seq))
            codes.append([vocabulary.setdefault(v, len(vocabulary)) if v else -1 for v in values(touch)])
            paid.append(touch.paid)
        for metric in METRICS:
            firsts[metric].append(converted.get(metric, NEVER))
    words = sorted(vocabulary, key=vocabulary.__getitem__)
    columns = np.array(codes, dtype=np.int64).reshape(-1, len(DIMENSIONS))
    ints = [np.array(v, dtype=np.int64) for v in (person, at, seq, paid)]
    table = TouchTable.sorted(ints[0], ints[1], ints[2], columns, ints[3], words)
    return table, {m: np.array(v, dtype=np.int64) for m, v in firsts.items()}


def influence_of(people: Iterable[tuple[Sequence[Touch], Mapping[str, int]]], *, since: int | None = None) -> Influence:
    table, conversions = table_of(people)
    return influence(table, conversions, since=since)


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
