"""Backtests over history written straight into SQLite: period filtering, comparisons, cancellation, workers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from peerscore.db import make_engine
from peerscore.events import EngagementEvent
from peerscore.scoring.backtest import BacktestCancelled, Period, fold_history, run_backtest
from peerscore.scoring.backtest.period import parse_moment
from peerscore.scoring.domain import load_default_ruleset
from tests.unit.scoring.backtest.support import END, journey_events, stricter, write_history

LIVE = load_default_ruleset()


@pytest.fixture(scope="module")
def events() -> list[EngagementEvent]:
    return journey_events(people=120)


@pytest.fixture
def history(tmp_path: Path, events: list[EngagementEvent]) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'history.db'}")
    write_history(engine, events)
    yield engine
    engine.dispose()


def test_period_keeps_only_events_inside_it(history: Engine, events: list[EngagementEvent]) -> None:
    since, until = END - timedelta(days=10), END - timedelta(days=3)
    folded = fold_history(history, Period(since=since, until=until), LIVE, LIVE)
    inside = [e for e in events if since <= e.occurred_at < until]
    assert 0 < len(inside) < len(events)
    assert sum(p.events for p in folded.people) == len(inside)
    assert {p.person_key for p in folded.people} == {e.person_key for e in inside}


def test_same_ruleset_on_both_sides_changes_nothing(history: Engine, events: list[EngagementEvent]) -> None:
    report = run_backtest(history, LIVE, LIVE, Period())
    assert report.events == len(events)
    assert report.mqls_before == report.mqls_after > 0
    assert report.changes_total == 0
    assert all(b.before == b.after for b in report.histogram)
    assert sum(b.before for b in report.histogram) == report.people


def test_stricter_candidate_qualifies_fewer_and_lists_them(history: Engine) -> None:
    report = run_backtest(history, LIVE, stricter(), Period())
    assert report.mqls_after < report.mqls_before
    assert report.changes_total > 0
    assert all(c.before != c.after for c in report.changes)
    assert any(c.before == "qualified" and c.after != "qualified" for c in report.changes)
    assert all(c.email and c.reasons for c in report.changes)


def test_listed_changes_have_reasons_whichever_range_they_come_from(history: Engine) -> None:
    """Ranges keep final states only for the leads they could place in the listing; the listing is global."""
    everything = run_backtest(history, LIVE, stricter(), Period(), workers=2)
    few = run_backtest(history, LIVE, stricter(), Period(), workers=2, max_changes=3)
    assert everything.changes_total == few.changes_total > 3
    assert [c.person_key for c in few.changes] == [c.person_key for c in everything.changes[:3]]
    assert all(c.reasons for c in few.changes)
    assert [c.reasons for c in few.changes] == [c.reasons for c in everything.changes[:3]]


def test_progress_reaches_the_total(history: Engine, events: list[EngagementEvent]) -> None:
    seen: list[tuple[int, int]] = []
    run_backtest(history, LIVE, LIVE, Period(), progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, len(events)) and seen[-1] == (len(events), len(events))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_cancellation_stops_the_run(history: Engine) -> None:
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done > 0:
            cancel.set()

    with pytest.raises(BacktestCancelled):
        run_backtest(history, LIVE, LIVE, Period(), progress=progress, cancel=cancel)


def test_worker_processes_give_the_same_results(history: Engine) -> None:
    candidate = stricter()
    one = fold_history(history, Period(), LIVE, candidate)
    two = fold_history(history, Period(), LIVE, candidate, workers=2)
    assert len(two.people) == len(one.people)
    by_key = {p.person_key: p for p in one.people}
    for p in two.people:
        q = by_key[p.person_key]
        assert (p.before, p.after, p.events) == (q.before, q.after, q.events)
    assert two.accounts == one.accounts


def test_parse_moment_accepts_durations_and_zoned_iso_times() -> None:
    assert parse_moment("90d", END) == END - timedelta(days=90)
    assert parse_moment("2026-10-01T00:00:00+00:00", END).tzinfo is not None
    with pytest.raises(ValueError, match="time zone"):
        parse_moment("2026-10-01T00:00:00", END)
    with pytest.raises(ValueError):
        Period(since=END, until=END - timedelta(days=1))
