"""Exponential decay: how much a point earned at one time is still worth later.

Decay is computed only from event timestamps (never the wall clock) so replaying the event log reproduces
every score bit for bit.
"""

from __future__ import annotations

from datetime import datetime

SECONDS_PER_DAY = 86_400.0


def decay_factor(earlier: datetime, later: datetime, half_life_days: float | None) -> float:
    """``2^(-(later - earlier) / half_life)``; 1.0 without a half-life or when ``later`` is not after ``earlier``.

    Never "un-decays": asking for a value before the accumulator's own time returns it unchanged, which keeps
    out-of-order reads harmless.
    """
    if half_life_days is None:
        return 1.0
    elapsed = (later - earlier).total_seconds()
    if elapsed <= 0:
        return 1.0
    return float(2.0 ** (-elapsed / (half_life_days * SECONDS_PER_DAY)))
