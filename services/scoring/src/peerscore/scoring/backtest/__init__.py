"""Backtests: replay the stored event history under a candidate ruleset with the production scoring code and
compare with the live ruleset (MQLs per week, precision/recall against outcomes, score distribution, changes)."""

from __future__ import annotations

from .period import Period, parse_moment
from .range_fold import BacktestCancelled, FoldResult
from .report import BacktestReport
from .runner import fold_history, run_backtest

__all__ = [
    "BacktestCancelled",
    "BacktestReport",
    "FoldResult",
    "Period",
    "fold_history",
    "parse_moment",
    "run_backtest",
]
