"""The backtest as the CLI shows it: rich tables, and the live ruleset the CLI compares against."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from peerscore.scoring.backtest.report import BacktestReport, Classification
from peerscore.scoring.domain import Ruleset
from peerscore.scoring.rulesets.ruleset_registry import live_ruleset
from peerscore.scoring.settings import ScoringSettings


def current_live_ruleset(engine: Engine, settings: ScoringSettings) -> Ruleset:
    """What the workers score with: the published version in the registry, else the configured default."""
    try:
        with Session(engine) as session:
            published = live_ruleset(session, settings.ruleset_name)
    except DBAPIError:  # no registry tables in this database: nothing was ever published
        published = None
    return published or settings.load_ruleset()


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _quality(c: Classification) -> str:
    counts = f"tp {c.true_positives}, fp {c.false_positives}, fn {c.false_negatives}"
    return f"{_ratio(c.precision)} / {_ratio(c.recall)}  ({counts})"


def render_report(report: BacktestReport, console: Console, *, max_rows: int = 25) -> None:
    summary = Table(title=f"Backtest: live {report.live_version} → candidate {report.candidate_version}")
    summary.add_column("")
    summary.add_column("live", justify="right")
    summary.add_column("candidate", justify="right")
    summary.add_row("MQLs", str(report.mqls_before), str(report.mqls_after))
    summary.add_row(
        f"precision / recall ({report.labelled_people} labelled)",
        _quality(report.precision_before),
        _quality(report.precision_after),
    )
    console.print(summary)
    if report.lines:
        lines = Table(title="Per product line")
        for column in ("line", "MQLs live", "MQLs candidate", "precision / recall live", "candidate"):
            lines.add_column(column, justify="right")
        for line in report.lines:
            lines.add_row(
                line.line,
                str(line.mqls_before),
                str(line.mqls_after),
                _quality(line.precision_before),
                _quality(line.precision_after),
            )
        console.print(lines)
    console.print(
        f"{report.events} events, {report.people} people, {report.seconds:.1f} s "
        f"({report.events / max(report.seconds, 1e-9):,.0f} events/s)"
    )
    weeks = Table(title="MQLs per ISO week")
    for column in ("week", "live", "candidate"):
        weeks.add_column(column, justify="right")
    for w in report.weeks:
        weeks.add_row(w.week, str(w.before), str(w.after))
    console.print(weeks)
    bins = Table(title="Score distribution (final totals)")
    for column in ("total", "live", "candidate"):
        bins.add_column(column, justify="right")
    for b in report.histogram:
        bins.add_row(f"{b.low:g}–{b.high:g}", str(b.before), str(b.after))
    console.print(bins)
    changed = Table(title=f"Leads whose qualification changes ({report.changes_total})")
    for column in ("lead", "live", "candidate", "total", "top reasons (candidate)"):
        changed.add_column(column)
    for c in report.changes[:max_rows]:
        changed.add_row(
            c.email or c.person_key,
            c.before,
            c.after,
            f"{c.total_before:.0f} → {c.total_after:.0f}",
            "; ".join(c.reasons[:3]),
        )
    console.print(changed)
