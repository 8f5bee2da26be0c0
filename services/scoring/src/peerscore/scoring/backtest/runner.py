"""Run a backtest: fold the period's history under the live and the candidate ruleset, then report.

The same production ``apply_event`` scores both sides; with ``workers > 1`` (and a database other processes can
open) key ranges are folded in worker processes, otherwise in this thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.scoring.backtest.parallel import fold_in_processes
from peerscore.scoring.backtest.period import Period
from peerscore.scoring.backtest.person_replay import listing_order
from peerscore.scoring.backtest.range_fold import BacktestCancelled, CancelFlag, FoldResult, fold_range
from peerscore.scoring.backtest.report import BacktestReport, summarise
from peerscore.scoring.backtest.source import key_ranges
from peerscore.scoring.domain import Ruleset, score_person
from peerscore.scoring.outcomes.store import load_outcomes

Progress = Callable[[int, int], None]
"""``progress(events_done, events_total)``."""

RANGES_PER_WORKER = 6
"""More ranges than workers so that uneven ranges still keep every core busy to the end."""


def _shareable_url(engine: Engine) -> str | None:
    """The URL worker processes can open, or None for databases private to this process (in-memory SQLite)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


def fold_history(
    engine: Engine,
    period: Period,
    live: Ruleset,
    candidate: Ruleset,
    *,
    workers: int = 1,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    listable: int = 500,
) -> FoldResult:
    """Every person of the period folded under both rulesets (see :mod:`peerscore.scoring.backtest.person_replay`)."""
    url = _shareable_url(engine)
    parallel = workers > 1 and url is not None
    ranges = key_ranges(engine, period, workers * RANGES_PER_WORKER if parallel else 1)
    total = sum(r.events for r in ranges)

    def report(done: int) -> None:
        if progress is not None:
            progress(done, total)

    report(0)
    if parallel and url is not None and len(ranges) > 1:
        result = fold_in_processes(
            url, period, ranges, live, candidate, workers=workers, on_progress=report, cancel=cancel, listable=listable
        )
    else:
        result, done = FoldResult(), 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            report(done)

        for keys in ranges:
            folded = fold_range(
                engine, period, keys, live, candidate, on_events=advance, cancel=cancel, listable=listable
            )
            result.absorb(folded)
    report(total)
    return result


def run_backtest(
    engine: Engine,
    live: Ruleset,
    candidate: Ruleset,
    period: Period,
    *,
    workers: int = 1,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    max_changes: int = 500,
) -> BacktestReport:
    """Replay ``period`` and compare; raises :class:`BacktestCancelled` when ``cancel`` is set mid-run."""
    started = time.perf_counter()
    folded = fold_history(
        engine, period, live, candidate, workers=workers, progress=progress, cancel=cancel, listable=max_changes
    )
    if cancel is not None and cancel.is_set():
        raise BacktestCancelled()
    with Session(engine) as session:
        outcomes = load_outcomes(session, {p.person_key for p in folded.people})
    reasons: dict[str, list[str]] = {}
    for p in sorted((p for p in folded.people if p.changed), key=listing_order)[:max_changes]:
        state = p.final_state()
        if state is not None and state.last_event_at is not None:  # the stored score as of the last event
            account = folded.account(state.account_key)
            reasons[p.person_key] = score_person(state, account, candidate, state.last_event_at).reasons
    lines = list(dict.fromkeys([*live.product_lines, *candidate.product_lines]))  # both rulesets' lines, once
    summary = summarise(folded.people, outcomes, reasons, max_changes=max_changes, lines=lines)
    return BacktestReport.model_validate(
        {
            "live_version": live.version,
            "candidate_version": candidate.version,
            "since": period.since,
            "until": period.until,
            "seconds": round(time.perf_counter() - started, 3),
            **summary,
        }
    )
