"""Backtests report each product line: its MQLs, the leads qualified at the end and its precision and recall."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import Engine

from peerscore.db import make_engine
from peerscore.events import utcnow
from peerscore.scoring.backtest import Period, run_backtest
from peerscore.scoring.backtest.jobs import BacktestView
from peerscore.scoring.backtest.render import render_report
from peerscore.scoring.console.preview_html import report_page
from peerscore.scoring.domain import Ruleset, load_default_ruleset, parse_ruleset
from tests.unit.scoring.backtest.support import default_yaml, journey_events, write_history

LINES = """
product_lines:
  whole:
    groups: [fit, engagement, intent]
  research:
    groups: [fit, engagement]
    qualification:
      qualify: {min_grade: B, min_activity: 20}
      recycle: {below_activity: 5, below_grade: C}
"""


def with_lines(min_activity: int = 50) -> Ruleset:
    return parse_ruleset(default_yaml().replace("min_activity: 50", f"min_activity: {min_activity}") + LINES)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("lines") / "history.db"
    engine = make_engine(f"sqlite:///{path}")
    write_history(engine, journey_events(people=120))
    yield engine
    engine.dispose()


def test_a_candidate_with_lines_reports_each_line(history: Engine) -> None:
    report = run_backtest(history, load_default_ruleset(), with_lines(), Period())
    assert [line.line for line in report.lines] == ["whole", "research"]
    whole, research = report.lines
    # A line with the ruleset's own groups and policy qualifies exactly as the lead as a whole does.
    assert (whole.mqls_before, whole.mqls_after) == (0, report.mqls_after) and report.mqls_after > 0
    assert whole.precision_after == report.precision_after
    assert research.mqls_after > whole.mqls_after > 0  # its own groups and lower bar
    assert research.qualified_after <= report.people
    c = research.precision_after
    assert c.true_positives + c.false_positives + c.false_negatives + c.true_negatives == report.labelled_people


def test_a_draft_moving_only_the_rulesets_bar_leaves_a_line_with_its_own_policy_alone(history: Engine) -> None:
    live, candidate = with_lines(), with_lines(min_activity=150)
    assert live.index().scoring_key == candidate.index().scoring_key  # the qualification-only fast path
    report = run_backtest(history, live, candidate, Period(), workers=2)
    assert report.mqls_after < report.mqls_before
    whole, research = report.lines
    assert (whole.mqls_before, whole.mqls_after) == (report.mqls_before, report.mqls_after)  # the ruleset's policy
    assert (research.mqls_before, research.qualified_before) == (research.mqls_after, research.qualified_after)
    assert research.mqls_after > 0 and research.precision_before == research.precision_after


def test_rulesets_without_lines_report_no_lines(history: Engine) -> None:
    assert run_backtest(history, load_default_ruleset(), load_default_ruleset(), Period()).lines == []


def test_the_console_preview_and_the_cli_show_each_line(history: Engine) -> None:
    report = run_backtest(history, load_default_ruleset(), with_lines(), Period())
    view = BacktestView(id="j", status="done", started_at=utcnow(), events_done=1, events_total=1)
    html = report_page(view, report, "all history", None, "csrf")
    section = html[html.index("Per product line") :]
    assert "<td>whole</td>" in section and "<td>research</td>" in section
    console = Console(record=True, width=200)
    render_report(report, console)
    text = console.export_text()
    assert "Per product line" in text and "research" in text
    plain = run_backtest(history, load_default_ruleset(), load_default_ruleset(), Period())
    assert "Per product line" not in report_page(view, plain, "all history", None, "csrf")
