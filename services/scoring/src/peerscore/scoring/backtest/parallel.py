"""Folding key ranges in worker processes: scoring is pure Python, so one process per core is the only way to
use both cores of this machine. People never span ranges and person state ignores accounts, so results are the
same as an in-process run; partial accounts are joined by the caller.

Workers are spawned (never forked: the service has Kafka and database threads whose locks a fork would copy),
get the cancel event and a shared events counter at start, and open their own engine from the database URL.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from sqlalchemy import Engine

from peerscore.db import make_engine
from peerscore.scoring.backtest.period import Period
from peerscore.scoring.backtest.range_fold import BacktestCancelled, CancelFlag, FoldResult, fold_range
from peerscore.scoring.backtest.source import KeyRange
from peerscore.scoring.domain import Ruleset

_worker: dict[str, Any] = {}
"""Per worker process: the cancel event, the shared counter and engines by URL (set by :func:`_start_worker`)."""


def _start_worker(cancel: Any, counter: Any) -> None:
    _worker.update(cancel=cancel, counter=counter, engines={})


def _count(n: int) -> None:
    counter = _worker["counter"]
    with counter.get_lock():
        counter.value += n


def _fold_task(
    url: str, period: Period, keys: KeyRange, live: Ruleset, candidate: Ruleset, listable: int
) -> FoldResult:
    engines: dict[str, Engine] = _worker["engines"]
    if url not in engines:
        engines[url] = make_engine(url)
    return fold_range(
        engines[url], period, keys, live, candidate, on_events=_count, cancel=_worker["cancel"], listable=listable
    )


def fold_in_processes(
    url: str,
    period: Period,
    ranges: list[KeyRange],
    live: Ruleset,
    candidate: Ruleset,
    *,
    workers: int,
    on_progress: Callable[[int], None],
    cancel: CancelFlag | None,
    poll_s: float = 0.3,
    listable: int = 500,
) -> FoldResult:
    """Fold ``ranges`` on ``workers`` processes; ``on_progress(events_done)`` is called while they run."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    counter = ctx.Value("q", 0)
    merged = FoldResult()
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker, initargs=(stop, counter)) as pool:
        pending: set[Future[FoldResult]] = {
            pool.submit(_fold_task, url, period, keys, live, candidate, listable) for keys in ranges
        }
        try:
            while pending:
                done, pending = wait(pending, timeout=poll_s, return_when=FIRST_COMPLETED)
                for future in done:
                    merged.absorb(future.result())
                on_progress(int(counter.value))
                if cancel is not None and cancel.is_set():
                    raise BacktestCancelled()
        except BaseException:
            stop.set()
            for future in pending:
                future.cancel()
            raise  # leaving the pool waits for running tasks, which stop at their next check of the event
    return merged
