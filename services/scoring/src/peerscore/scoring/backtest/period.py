"""The period a backtest replays, and the ``90d`` / ISO spellings the CLI and the API accept for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_RELATIVE = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")
_UNITS = {"d": "days", "h": "hours", "w": "weeks"}


@dataclass(frozen=True)
class Period:
    """Events with ``since <= occurred_at < until`` (``until`` open-ended when ``None``). Both tz-aware.

    Person state starts empty at ``since``: a lead whose earlier events fell before the period is judged on
    what it did inside it, the same for the live and the candidate ruleset, so the comparison stays fair.
    """

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for value in (self.since, self.until):
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise ValueError("backtest period bounds must be timezone-aware")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")

    def contains(self, at: datetime) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at < self.until)


def parse_moment(text: str, now: datetime) -> datetime:
    """``90d``, ``12h``, ``6w`` (that long before ``now``) or an ISO 8601 time with a zone."""
    match = _RELATIVE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a duration like 90d nor an ISO time: {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"give a time zone, e.g. {text}Z or {text}+00:00")
    return moment
