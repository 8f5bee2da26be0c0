"""What a backtest tells a marketer, computed from the per-person results: pure functions, no I/O.

* MQLs per ISO week: qualification transitions (a lead that qualifies twice counts twice, as sales saw it twice).
* Precision and recall against known outcomes: the leads with at least one outcome; positive when sales created an
  opportunity or won; predicted positive when the lead qualified before its outcome (its first positive one, or its
  latest one for negatives), so a qualification caused by the deal itself does not count.
* Score distribution: the final stored totals in 10-point bins.
* Leads whose status (qualified / recycled / not qualified) changes, with the candidate's reasons.
* Per product line (either ruleset's ``product_lines``): its MQLs, the leads qualified for it at the end, and its
  precision and recall against the same outcomes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel

from peerscore.scoring.backtest.person_replay import PersonResult, Side, listing_order

POSITIVE = frozenset({"opportunity_created", "won"})
BIN_WIDTH = 10.0


class WeekRow(BaseModel):
    week: str
    before: int
    after: int


class BinRow(BaseModel):
    low: float
    high: float
    before: int
    after: int


class Classification(BaseModel):
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    precision: float | None
    recall: float | None


class LeadChange(BaseModel):
    person_key: str
    email: str | None
    before: str
    after: str
    total_before: float
    total_after: float
    reasons: list[str]


class LineReport(BaseModel):
    """One product line's MQLs and precision/recall, live and candidate (zero on a side without the line)."""

    line: str
    mqls_before: int
    mqls_after: int
    qualified_before: int
    qualified_after: int
    precision_before: Classification
    precision_after: Classification


class BacktestReport(BaseModel):
    live_version: str
    candidate_version: str
    since: datetime | None
    until: datetime | None
    events: int
    people: int
    seconds: float
    mqls_before: int
    mqls_after: int
    weeks: list[WeekRow]
    labelled_people: int
    precision_before: Classification
    precision_after: Classification
    histogram: list[BinRow]
    changes_total: int
    changes: list[LeadChange]
    lines: list[LineReport] = []
    """Per product line, in the rulesets' order; empty when neither ruleset declares lines."""


def iso_week(at: datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def weekly_mqls(people: Iterable[PersonResult]) -> list[WeekRow]:
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    for p in people:
        before.update(iso_week(t) for t in p.before.qualified_at)
        after.update(iso_week(t) for t in p.after.qualified_at)
    return [WeekRow(week=w, before=before[w], after=after[w]) for w in sorted(before | after)]


def histogram(people: Iterable[PersonResult], width: float = BIN_WIDTH) -> list[BinRow]:
    before: Counter[float] = Counter()
    after: Counter[float] = Counter()
    for p in people:
        before[math.floor(p.before.total / width) * width] += 1
        after[math.floor(p.after.total / width) * width] += 1
    return [BinRow(low=b, high=b + width, before=before[b], after=after[b]) for b in sorted(before | after)]


def labels(outcomes: Iterable[tuple[str, str, datetime]]) -> dict[str, tuple[bool, datetime]]:
    """person → (positive, reference time): the first positive outcome's time, else the latest outcome's."""
    by_person: dict[str, list[tuple[datetime, str]]] = {}
    for key, kind, at in outcomes:
        by_person.setdefault(key, []).append((at, kind))
    result: dict[str, tuple[bool, datetime]] = {}
    for key, seen in by_person.items():
        positives = sorted(at for at, kind in seen if kind in POSITIVE)
        result[key] = (True, positives[0]) if positives else (False, max(at for at, _ in seen))
    return result


def classify(sides: Iterable[tuple[Side, tuple[bool, datetime]]], line: str | None = None) -> Classification:
    """Against the outcomes: the lead as a whole, or one product line (``line``: when that line qualified)."""
    counts = Counter[tuple[bool, bool]]()
    for side, (positive, reference) in sides:
        qualified_at = side.qualified_at if line is None else side.line_qualified_at.get(line, ())
        predicted = any(at < reference for at in qualified_at)
        counts[(predicted, positive)] += 1
    tp, fp, fn = counts[(True, True)], counts[(True, False)], counts[(False, True)]
    return Classification(
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=counts[(False, False)],
        precision=tp / (tp + fp) if tp + fp else None,
        recall=tp / (tp + fn) if tp + fn else None,
    )


def changes(
    people: Iterable[PersonResult], reasons: dict[str, list[str]], limit: int | None = None
) -> list[LeadChange]:
    """Leads whose status differs, highest candidate total first (the first ``limit`` of them)."""
    listed = sorted((p for p in people if p.changed), key=listing_order)
    return [
        LeadChange(
            person_key=p.person_key,
            email=p.email,
            before=p.before.status,
            after=p.after.status,
            total_before=p.before.total,
            total_after=p.after.total,
            reasons=reasons.get(p.person_key, []),
        )
        for p in (listed if limit is None else listed[:limit])
    ]


def line_reports(
    people: Sequence[PersonResult], known: dict[str, tuple[bool, datetime]], lines: Sequence[str]
) -> list[LineReport]:
    """Each product line's numbers, live and candidate, against the same labelled leads as the whole-lead ones."""
    labelled = [p for p in people if p.person_key in known]
    return [
        LineReport(
            line=line,
            mqls_before=sum(len(p.before.line_qualified_at.get(line, ())) for p in people),
            mqls_after=sum(len(p.after.line_qualified_at.get(line, ())) for p in people),
            qualified_before=sum(1 for p in people if line in p.before.lines),
            qualified_after=sum(1 for p in people if line in p.after.lines),
            precision_before=classify(((p.before, known[p.person_key]) for p in labelled), line),
            precision_after=classify(((p.after, known[p.person_key]) for p in labelled), line),
        )
        for line in lines
    ]


def summarise(
    people: Sequence[PersonResult],
    outcomes: Iterable[tuple[str, str, datetime]],
    reasons: dict[str, list[str]],
    *,
    max_changes: int = 500,
    lines: Sequence[str] = (),
) -> dict[str, object]:
    """Every report field that comes from the results (the caller adds versions, period, timing)."""
    known = labels(outcomes)
    labelled = [p for p in people if p.person_key in known]
    listed = changes(people, reasons, max_changes)
    return {
        "events": sum(p.events for p in people),
        "people": len(people),
        "mqls_before": sum(len(p.before.qualified_at) for p in people),
        "mqls_after": sum(len(p.after.qualified_at) for p in people),
        "weeks": weekly_mqls(people),
        "labelled_people": len(labelled),
        "precision_before": classify((p.before, known[p.person_key]) for p in labelled),
        "precision_after": classify((p.after, known[p.person_key]) for p in labelled),
        "histogram": histogram(people),
        "changes_total": sum(1 for p in people if p.changed),
        "changes": listed,
        "lines": line_reports(people, known, lines),
    }
