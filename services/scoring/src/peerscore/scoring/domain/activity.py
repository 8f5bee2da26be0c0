"""A person's raw signals, whatever the ruleset names: the model's view of everything they did.

Rules only see what they name, so a model fed only rule features is blind to a signal no rule mentions
("Integration Connected"). The :class:`SignalProfile` is a compact, bounded summary of every activity event,
kept in the person state by BOTH folds (the immutable one, :func:`~.engine.advance_profile`, and the working
one, :class:`~.working.WorkingPerson`) through the same :class:`SignalDraft` code, so they cannot differ. It
does not depend on a ruleset (a backtest advances it once for two rulesets), so it is kept for every event
type as sent (after identity, before the ruleset's aliases).

Bounded on purpose: at most :data:`MAX_TYPES` event types per person (the rest are pooled under
:data:`OTHER_TYPE`); per type and page class a lifetime count, the newest time and day buckets for the last
:data:`WINDOW_DAYS` days (enough for 7/30/90-day windows at day resolution); sessions (activity separated by
less than :data:`SESSION_GAP_S`); channel counts and the first and last channel. Times are epoch seconds and
days epoch days (ints): the profile is stored with every person, so its JSON stays small. An old stored state
without a profile loads with an empty one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from peerscore.events import EngagementEvent, is_system_event

from .channels import channel_of
from .pages import page_class, page_path

MAX_TYPES = 32
"""Event types tracked per person; a 33rd distinct type is counted under :data:`OTHER_TYPE`."""
OTHER_TYPE = "~other"
WINDOW_DAYS = 90
"""Day buckets older than this (from the newest occurrence of the same counter) are dropped."""
SESSION_GAP_S = 30 * 60
"""Activity after a pause of at least this long starts a new session (the usual web-analytics cut)."""
DAY_S = 86_400
NOT_SIGNALS = frozenset({"identify", "group", "alias"})
"""Profile calls say who someone is, not what they did (the same list as the unscored-signal report)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class SignalCount(_Frozen):
    """How often one kind of signal happened: ever (``n``), last (``last``, epoch s) and per recent day."""

    n: int = 0
    last: int = 0
    days: dict[int, int] = Field(default_factory=dict)
    """Epoch day → occurrences, for days within :data:`WINDOW_DAYS` of the newest; keys ascending."""

    def in_window(self, as_of_s: int, window_days: int) -> int:
        """Occurrences on the ``window_days`` calendar days up to ``as_of_s``'s day (day resolution)."""
        first = as_of_s // DAY_S - window_days
        return sum(n for day, n in self.days.items() if first < day <= as_of_s // DAY_S)


class SignalProfile(_Frozen):
    """The stored, bounded summary of a person's activity events (see the module doc)."""

    types: dict[str, SignalCount] = Field(default_factory=dict)
    pages: dict[str, SignalCount] = Field(default_factory=dict)
    channels: dict[str, int] = Field(default_factory=dict)
    first_channel: str | None = None
    last_channel: str | None = None
    sessions: int = 0
    session_start: int = 0
    """Epoch seconds at which the newest session started."""
    last: int = 0
    """Epoch seconds of the newest activity event."""
    gaps: int = 0
    """Seconds between sessions, summed (mean gap = gaps / (sessions - 1))."""
    session_days: dict[int, int] = Field(default_factory=dict)
    """Epoch day → sessions started, within :data:`WINDOW_DAYS` of the newest."""

    def after(self, event: EngagementEvent) -> SignalProfile:
        """The profile once ``event`` is observed (``self`` when it is not an activity event)."""
        draft = SignalDraft(self)
        draft.observe(event)
        return draft.freeze()

    def merge(self, other: SignalProfile) -> SignalProfile:
        """Two people found to be one: counts add up, ``self`` (the surviving person) keeps its first channel."""
        if not other.types and not other.sessions:
            return self
        draft = SignalDraft(self)
        draft.absorb(other)
        return draft.freeze()


EMPTY_PROFILE = SignalProfile()


def is_signal(event_type: str) -> bool:
    return not is_system_event(event_type) and event_type not in NOT_SIGNALS


class _Count:
    __slots__ = ("n", "last", "days")

    def __init__(self, n: int = 0, last: int = 0, days: dict[int, int] | None = None) -> None:
        self.n, self.last, self.days = n, last, dict(days or {})

    def add(self, at_s: int, times: int = 1) -> None:
        self.n += times
        day = at_s // DAY_S
        if at_s > self.last:
            self.last = at_s
        newest = self.last // DAY_S
        if day > newest - WINDOW_DAYS:
            self.days[day] = self.days.get(day, 0) + times
        self.days = _recent(self.days, newest)

    def frozen(self) -> SignalCount:
        return SignalCount.model_construct(n=self.n, last=self.last, days=dict(self.days))


def _recent(days: dict[int, int], newest: int) -> dict[int, int]:
    """Buckets within the window of ``newest``, keys ascending (so equal profiles serialise equally)."""
    return {d: days[d] for d in sorted(days) if d > newest - WINDOW_DAYS}


def _thaw(counts: dict[str, SignalCount]) -> dict[str, _Count]:
    return {k: _Count(c.n, c.last, c.days) for k, c in counts.items()}


class SignalDraft:
    """A mutable :class:`SignalProfile` for one fold; copies the stored one only when something changes."""

    __slots__ = ("origin", "values", "types", "pages", "channels")

    def __init__(self, origin: SignalProfile) -> None:
        self.origin: SignalProfile | None = origin
        self.values: dict[str, Any] = {}
        self.types: dict[str, _Count] = {}
        self.pages: dict[str, _Count] = {}
        self.channels: dict[str, int] = {}

    def _thawed(self) -> None:
        origin = self.origin
        if origin is None:
            return
        self.types, self.pages, self.channels = _thaw(origin.types), _thaw(origin.pages), dict(origin.channels)
        self.values = {name: getattr(origin, name) for name in _SCALARS}
        self.values["session_days"] = dict(origin.session_days)
        self.origin = None

    def observe(self, event: EngagementEvent) -> None:
        """Count one applied activity event (duplicates are the caller's to skip)."""
        if not is_signal(event.type):
            return
        self._thawed()
        at = int(event.occurred_at.timestamp())
        kind = event.type if event.type in self.types or len(self.types) < MAX_TYPES else OTHER_TYPE
        self.types.setdefault(kind, _Count()).add(at)
        page = page_class(page_path(event))
        if page:
            self.pages.setdefault(page, _Count()).add(at)
        channel = channel_of(event)
        if channel is not None:
            self.channels[channel] = self.channels.get(channel, 0) + 1
            self.values["first_channel"] = self.values["first_channel"] or channel
            self.values["last_channel"] = channel
        self._session(at)

    def _session(self, at: int) -> None:
        """A new session when ``at`` is at least the gap after the newest activity; late events join history."""
        values = self.values
        last = values["last"]
        if values["sessions"] == 0 or at - last >= SESSION_GAP_S:
            if values["sessions"]:
                values["gaps"] += at - last
            values["sessions"] += 1
            values["session_start"] = at
            days = values["session_days"]
            days[at // DAY_S] = days.get(at // DAY_S, 0) + 1
            values["session_days"] = _recent(days, at // DAY_S)
        values["last"] = max(last, at)

    def absorb(self, other: SignalProfile) -> None:
        """Add ``other``'s counts (a merge of two people); sessions and gaps add up, times take the newest."""
        self._thawed()
        for mine, theirs in ((self.types, other.types), (self.pages, other.pages)):
            for key, count in theirs.items():
                key = key if key in mine or len(mine) < MAX_TYPES else OTHER_TYPE
                target = mine.setdefault(key, _Count())
                for day, n in count.days.items():
                    target.add(day * DAY_S, n)
                target.n += count.n - sum(count.days.values())
                target.last = max(target.last, count.last)
        for channel, n in other.channels.items():
            self.channels[channel] = self.channels.get(channel, 0) + n
        values = self.values
        values["first_channel"] = values["first_channel"] or other.first_channel
        values["last_channel"] = values["last_channel"] or other.last_channel
        days = values["session_days"]
        for day, n in other.session_days.items():
            days[day] = days.get(day, 0) + n
        newest = max(values["last"], other.last)
        values["session_days"] = _recent(days, newest // DAY_S)
        values["sessions"] += other.sessions
        values["gaps"] += other.gaps
        values["session_start"] = max(values["session_start"], other.session_start)
        values["last"] = newest

    def freeze(self) -> SignalProfile:
        """The stored shape (a copy: the draft may keep folding after a mid-batch snapshot)."""
        if self.origin is not None:
            return self.origin
        return SignalProfile.model_construct(
            types={k: c.frozen() for k, c in self.types.items()},
            pages={k: c.frozen() for k, c in self.pages.items()},
            channels=dict(self.channels),
            **{**self.values, "session_days": dict(self.values["session_days"])},
        )


_SCALARS = ("first_channel", "last_channel", "sessions", "session_start", "last", "gaps")
