"""Features from the raw signal profile, not from the rules: what a person did, whatever the ruleset names.

Rule features (:mod:`.features`) only see events some rule matches, so a model trained on them cannot learn
from a signal nobody wrote a rule for. These read the person's :class:`~peerscore.scoring.domain.activity.
SignalProfile`, which both folds keep for every activity event, so training (states replayed to snapshots)
and serving (the worker's batch states) compute them from the same stored values.

Which event types and which firmographic values get their own columns is a :class:`Vocabulary` decided at
training time from the training data (the most frequent types; rarer ones pooled under ``other``). It lives in
the feature names themselves (``type.integration.connected.n30d``, ``cat.industry=software``), which the
registry stores with the model, so serving rebuilds it from the names (:func:`vocabulary_from`) and a new
ruleset cannot invalidate it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from peerscore.scoring.domain.activity import DAY_S, OTHER_TYPE, SignalCount, SignalProfile
from peerscore.scoring.domain.channels import CHANNELS
from peerscore.scoring.domain.pages import PAGE_CLASSES
from peerscore.scoring.domain.state import PersonState

TYPE_WINDOWS_DAYS = (7, 30, 90)
PAGE_WINDOWS_DAYS = (30,)
SESSION_WINDOWS_DAYS = (7, 30)
PAGES = tuple(name for name, _ in PAGE_CLASSES) + ("other",)
CATEGORIES = ("seniority", "function", "industry", "region")
_TOKEN = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,59}$")
"""Event types that may become a column: LightGBM refuses JSON punctuation in names, and names stay short."""
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Vocabulary:
    """The event types and category values that get columns; everything else is ``other`` (or all zeros)."""

    types: tuple[str, ...] = ()
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Per category (see :data:`CATEGORIES`), its named values (normalised by :func:`category_value`)."""

    def values(self, category: str) -> tuple[str, ...]:
        return dict(self.categories).get(category, ())


EMPTY_VOCABULARY = Vocabulary()


@lru_cache(maxsize=4096)
def category_value(value: str | None) -> str | None:
    """``"Computer Software"`` → ``computer_software``: the stable code of a category value (or None). Cached:
    every lead of every batch asks for its few values, and a site has only so many titles and industries."""
    if not value:
        return None
    token = _NOT_ALNUM.sub("_", value.strip().lower()).strip("_")[:40]
    return token or None


def _categories_of(person: PersonState) -> dict[str, str | None]:
    traits, company = person.traits, person.company
    raw = {"seniority": traits.seniority, "function": traits.function}
    raw |= {"industry": company.industry, "region": company.region}
    return {name: category_value(value) for name, value in raw.items()}


def choose_vocabulary(
    type_counts: Counter[str], people: Iterable[PersonState], *, top_types: int, top_values: int
) -> Vocabulary:
    """The ``top_types`` most frequent event types (ties by name) and each category's ``top_values`` values."""
    eligible = sorted((t for t in type_counts if _TOKEN.match(t)), key=lambda t: (-type_counts[t], t))
    seen: dict[str, Counter[str]] = {name: Counter() for name in CATEGORIES}
    for person in people:
        for name, value in _categories_of(person).items():
            if value is not None:
                seen[name][value] += 1
    categories = tuple((name, tuple(sorted(v for v, _ in seen[name].most_common(top_values)))) for name in CATEGORIES)
    return Vocabulary(types=tuple(sorted(eligible[:top_types])), categories=categories)


def signal_names(vocabulary: Vocabulary) -> list[str]:
    names: list[str] = []
    for kind in (*vocabulary.types, "other"):
        prefix = f"type.{kind}" if kind != "other" else "type_other"
        names += [f"{prefix}.count", *(f"{prefix}.n{w}d" for w in TYPE_WINDOWS_DAYS), f"{prefix}.days_since"]
    names += ["signal.events", "signal.types", *(f"signal.n{w}d" for w in TYPE_WINDOWS_DAYS)]
    for page in PAGES:
        names += [f"page.{page}.count", *(f"page.{page}.n{w}d" for w in PAGE_WINDOWS_DAYS), f"page.{page}.days_since"]
    names += ["session.count", *(f"session.n{w}d" for w in SESSION_WINDOWS_DAYS)]
    names += ["session.days_since_start", "session.mean_gap_days", "session.events_per_session"]
    names += [f"channel.{c}" for c in CHANNELS]
    names += [f"channel.first={c}" for c in CHANNELS] + [f"channel.last={c}" for c in CHANNELS]
    for category, values in vocabulary.categories:  # the order signal_values walks them in
        names += [f"cat.{category}={value}" for value in values]
    return names


def vocabulary_from(names: Sequence[str]) -> Vocabulary:
    """The vocabulary a model was trained with, read back from its feature names (inverse of the naming)."""
    types = tuple(n[len("type.") : -len(".count")] for n in names if n.startswith("type.") and n.endswith(".count"))
    found: dict[str, list[str]] = {name: [] for name in CATEGORIES}
    for name in names:
        if name.startswith("cat.") and "=" in name:
            category, value = name[len("cat.") :].split("=", 1)
            if category in found:
                found[category].append(value)
    return Vocabulary(types=types, categories=tuple((c, tuple(v)) for c, v in found.items()))


def _count(tally: SignalCount | None, as_of_s: int, windows: Sequence[int]) -> list[float]:
    """``[count, n per window…, days since]`` in one pass over the day buckets (this runs per lead per batch)."""
    if tally is None or tally.n == 0:
        return _NEVER[len(windows)]
    return [float(tally.n), *_day_sums(tally.days, as_of_s // DAY_S, windows), (as_of_s - tally.last) / DAY_S]


def _day_sums(days: Mapping[int, int], today: int, windows: Sequence[int]) -> list[float]:
    """Per window of days ending today, the sum of the day buckets in it (one pass; future days count in none)."""
    sums = [0.0] * len(windows)
    for day, n in days.items():
        age = today - day
        if age >= 0:
            for j, w in enumerate(windows):
                if age < w:
                    sums[j] += n
    return sums


_NEVER = {k: [0.0] * (k + 1) + [math.nan] for k in (len(TYPE_WINDOWS_DAYS), len(PAGE_WINDOWS_DAYS))}
"""``_count`` of a signal that never happened, per number of windows (callers copy it with ``+=``)."""


def _pooled(values: list[list[float]]) -> list[float]:
    """Several ``_count`` results as one: counts and windows add up, the most recent one sets days-since."""
    if not values:
        return _count(None, 0, TYPE_WINDOWS_DAYS)
    width = len(values[0])
    out = [sum(v[j] for v in values) for j in range(width - 1)]
    return [*out, min(v[-1] for v in values)]


@dataclass(frozen=True)
class SignalLayout:
    """Where each signal value sits in a feature row (offsets from the row's start), and the row's values for a
    person with no signals. Built once per model: a lead's row is that template copied, then only what the
    person actually did is written (a handful of types, pages and channels), instead of every column."""

    template: tuple[float, ...]
    types: dict[str, int]
    other: int
    totals: int
    pages: dict[str, int]
    sessions: int
    channels: dict[str, int]
    first_channel: dict[str, int]
    last_channel: dict[str, int]
    categories: dict[tuple[str, str], int]


_UNKNOWN_WHEN_NEVER = ("session.days_since_start", "session.mean_gap_days", "session.events_per_session")
"""Besides every ``*.days_since``, the columns that are NaN for a person with no sessions."""


def signal_layout(vocabulary: Vocabulary, start: int) -> SignalLayout:
    """The layout of :func:`signal_names` for ``vocabulary`` in a row whose signal columns begin at ``start``,
    read off the names themselves so the order is written down once."""
    names = signal_names(vocabulary)
    at = {name: start + i for i, name in reversed(list(enumerate(names)))}  # the first column of a repeated name
    template = tuple(math.nan if name.endswith(".days_since") or name in _UNKNOWN_WHEN_NEVER else 0.0 for name in names)
    return SignalLayout(
        template=template,
        types={kind: at[f"type.{kind}.count"] for kind in vocabulary.types},
        other=at["type_other.count"],
        totals=at["signal.events"],
        pages={page: at[f"page.{page}.count"] for page in PAGES},
        sessions=at["session.count"],
        channels={c: at[f"channel.{c}"] for c in CHANNELS},
        first_channel={c: at[f"channel.first={c}"] for c in CHANNELS},
        last_channel={c: at[f"channel.last={c}"] for c in CHANNELS},
        categories={(c, v): at[f"cat.{c}={v}"] for c, values in vocabulary.categories for v in values},
    )


def fill_signals(row: list[float], layout: SignalLayout, person: PersonState, as_of: datetime) -> None:
    """Write ``person``'s signal values as of ``as_of`` into ``row`` (a copy of the layout's template there).

    ``as_of`` is the person's newest event time when serving and in training rows, so day windows are the same
    on both paths. Types outside the vocabulary (and the profile's own overflow) are pooled under ``other``;
    the totals cover every type.
    """
    profile, as_of_s = person.signals, int(as_of.timestamp())
    if profile.types:
        per = [(kind, _count(tally, as_of_s, TYPE_WINDOWS_DAYS)) for kind, tally in profile.types.items()]
        pooled = []
        for kind, values in per:
            at = layout.types.get(kind)
            if at is not None:
                row[at : at + len(values)] = values
            if at is None or kind == OTHER_TYPE:
                pooled.append(values)
        if pooled:
            values = _pooled(pooled)
            row[layout.other : layout.other + len(values)] = values
        total = _pooled([values for _, values in per])
        row[layout.totals : layout.totals + len(total)] = [total[0], float(len(per)), *total[1:-1]]
    for page, tally in profile.pages.items():
        start = layout.pages.get(page)
        if start is not None:
            values = _count(tally, as_of_s, PAGE_WINDOWS_DAYS)
            row[start : start + len(values)] = values
    if profile.sessions:
        row[layout.sessions : layout.sessions + len(_NO_SESSIONS)] = _sessions(profile, as_of_s)
    for channel, n in profile.channels.items():
        if channel in layout.channels:
            row[layout.channels[channel]] = float(n)
    if profile.first_channel in layout.first_channel:
        row[layout.first_channel[profile.first_channel]] = 1.0
    if profile.last_channel in layout.last_channel:
        row[layout.last_channel[profile.last_channel]] = 1.0
    for category, value in _categories_of(person).items():
        at = layout.categories.get((category, value)) if value is not None else None
        if at is not None:
            row[at] = 1.0


_NO_SESSIONS = (0.0, *(0.0 for _ in SESSION_WINDOWS_DAYS), math.nan, math.nan, math.nan)


def _sessions(profile: SignalProfile, as_of_s: int) -> list[float]:
    sessions = profile.sessions
    if sessions == 0:
        return list(_NO_SESSIONS)
    windows = _day_sums(profile.session_days, as_of_s // DAY_S, SESSION_WINDOWS_DAYS)
    gap = profile.gaps / (sessions - 1) / DAY_S if sessions > 1 else math.nan
    events = sum(c.n for c in profile.types.values())
    return [float(sessions), *windows, (as_of_s - profile.session_start) / DAY_S, gap, events / sessions]
