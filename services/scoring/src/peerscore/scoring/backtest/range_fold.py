"""Folding a key range of the history: the unit of work a backtest runs in-process or in a worker process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine

from peerscore.scoring.backtest.period import Period
from peerscore.scoring.backtest.person_replay import AccountJoin, PersonResult, fold_person, keep_listable
from peerscore.scoring.backtest.source import KeyRange, people_histories
from peerscore.scoring.domain import AccountState, Ruleset

REPORT_EVERY = 2_000
"""Events between progress reports and cancellation checks: often enough for a progress bar, cheap to do."""


class BacktestCancelled(Exception):
    """The run was asked to stop; nothing partial is reported."""


class CancelFlag(Protocol):
    """``threading.Event`` and ``multiprocessing.Event`` both fit."""

    def is_set(self) -> bool: ...


@dataclass
class FoldResult:
    people: list[PersonResult] = field(default_factory=list)
    accounts: dict[str, AccountJoin] = field(default_factory=dict)

    def absorb(self, other: FoldResult) -> None:
        """Add another range's results; shared accounts are joined (commutative), as concurrent workers do."""
        self.people.extend(other.people)
        for key, join in other.accounts.items():
            mine = self.accounts.get(key)
            if mine is None:
                self.accounts[key] = join
            else:
                mine.absorb(join)

    def account(self, key: str | None) -> AccountState | None:
        """The joined account ``key`` as the worker would hold it (``None`` when no event named it)."""
        join = self.accounts.get(key) if key is not None else None
        return join.state(key) if join is not None and key is not None else None


def fold_range(
    engine: Engine,
    period: Period,
    keys: KeyRange | None,
    live: Ruleset,
    candidate: Ruleset,
    *,
    on_events: Callable[[int], None] | None = None,
    cancel: CancelFlag | None = None,
    listable: int = 500,
) -> FoldResult:
    """Fold every person in ``keys``; reports events done every :data:`REPORT_EVERY` and checks ``cancel``.

    Final states are kept for the ``listable`` changed leads the report may list (see :func:`keep_listable`).
    """
    result = FoldResult()
    pending = 0
    for history in people_histories(engine, period, keys):
        folded = fold_person(history, live, candidate, result.accounts)
        result.people.append(folded)
        pending += folded.events
        if pending >= REPORT_EVERY:
            if on_events is not None:
                on_events(pending)
            pending = 0
            if cancel is not None and cancel.is_set():
                raise BacktestCancelled()
    if on_events is not None and pending:
        on_events(pending)
    keep_listable(result.people, listable)
    return result
