"""Point-in-time training sets: the event history replayed with the production fold, sampled as it stood.

Every ``snapshot_every_days`` (a *cutoff*) each person active in the previous ``active_days`` contributes one row:
their state after the last event applied before the cutoff — exactly the state the worker scored then — with
features computed by :func:`.features.feature_row` as of that event (``as_of``). The label says whether a
positive outcome (``opportunity_created`` or ``won`` by default) followed within ``horizon_days`` of ``as_of``.

Nothing after ``as_of`` reaches the features: the person state is folded only from events applied before the
cutoff whose time is before it, and the account breadth sees each colleague's latest activity at or before
``as_of``. People who had already converted by ``as_of`` are left out (nothing left to predict), and rows whose
horizon runs past the end of the history are dropped (their label is not known yet).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from peerscore.events import is_system_event
from peerscore.scoring.domain import new_person
from peerscore.scoring.domain.activity import is_signal
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.domain.state import PersonState
from peerscore.scoring.identity.replay import PersonHistory, replay_steps

from .features import FeatureSpec, feature_row, feature_spec
from .signal_features import EMPTY_VOCABULARY, Vocabulary, choose_vocabulary

POSITIVE_KINDS = frozenset({"opportunity_created", "won"})


@dataclass(frozen=True)
class DatasetConfig:
    horizon_days: float = 30.0
    snapshot_every_days: float = 7.0
    active_days: float = 30.0
    positive_kinds: frozenset[str] = POSITIVE_KINDS
    top_types: int = 20
    """Event types with their own feature columns (the most frequent in the history); the rest pool as other."""
    top_values: int = 8
    """Values per firmographic/seniority category with their own column."""


@dataclass
class TrainingSet:
    """Rows in ``as_of`` order. ``rules_score`` is the rules-only total at ``as_of``, for the comparison."""

    spec: FeatureSpec
    features: np.ndarray
    labels: np.ndarray
    as_of: np.ndarray
    """Seconds since the epoch (UTC)."""
    rules_score: np.ndarray
    person_keys: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def positives(self) -> int:
        return int(self.labels.sum())

    def rule_features_only(self) -> TrainingSet:
        """The same rows with only the rule features: the card's "what the raw signals add" comparison."""
        k = self.spec.rule_features
        spec = replace(self.spec, names=self.spec.names[:k], vocabulary=EMPTY_VOCABULARY)
        return TrainingSet(spec, self.features[:, :k], self.labels, self.as_of, self.rules_score, self.person_keys)

    def take(self, index: np.ndarray) -> TrainingSet:
        return TrainingSet(
            self.spec,
            self.features[index],
            self.labels[index],
            self.as_of[index],
            self.rules_score[index],
            [self.person_keys[i] for i in index],
        )


@dataclass(frozen=True)
class _Snapshot:
    person: PersonState
    as_of: datetime
    cutoff: datetime


class _AccountActivity:
    """Per account and person, the sorted activity times: "latest activity at or before t" for breadth."""

    def __init__(self) -> None:
        self._times: dict[str, dict[str, list[datetime]]] = {}

    def add(self, account_key: str, person_key: str, at: datetime) -> None:
        self._times.setdefault(account_key, {}).setdefault(person_key, []).append(at)

    def freeze(self) -> None:
        for people in self._times.values():
            for times in people.values():
                times.sort()

    def last_seen(self, account_key: str | None, as_of: datetime) -> dict[str, datetime]:
        if account_key is None:
            return {}
        out: dict[str, datetime] = {}
        for person_key, times in self._times.get(account_key, {}).items():
            i = bisect_right(times, as_of)
            if i:
                out[person_key] = times[i - 1]
        return out


def cutoffs(start: datetime, end: datetime, config: DatasetConfig) -> list[datetime]:
    """Snapshot times inside the history (rows whose label is not known yet are dropped later, by ``as_of``)."""
    step = timedelta(days=config.snapshot_every_days)
    out, at = [], start + step
    while at <= end:
        out.append(at)
        at += step
    return out


def _snapshots(
    history: PersonHistory, ruleset: Ruleset, times: list[datetime], activity: _AccountActivity, types: Counter[str]
) -> list[_Snapshot]:
    """Replay a canonical person with the live step (merged keys folded in at their markers, consent applied); at
    each cutoff keep the state folded so far (once per version), unless it was opted out (never scored live)."""
    key = history.key
    state = new_person(key)
    out: list[_Snapshot] = []
    pending = 0

    def take_until(moment: datetime) -> None:
        nonlocal pending
        while pending < len(times) and times[pending] <= moment:
            fresh = not out or out[-1].person.version != state.version
            if state.version > 0 and fresh and not state.opted_out:
                out.append(_Snapshot(state, state.last_event_at or times[pending], times[pending]))
            pending += 1

    for event, applied in replay_steps(history, ruleset):
        take_until(event.occurred_at)
        if applied is None or applied.duplicate:
            continue
        state = applied.person
        if is_signal(event.type):
            types[event.type] += 1
        if state.account_key is not None and not is_system_event(event.type):
            activity.add(state.account_key, key, event.occurred_at)
    if times:
        take_until(times[-1])
    return out


def build_training_set(
    histories: Iterable[PersonHistory],
    outcomes: Iterable[tuple[str, str, datetime]],
    ruleset: Ruleset,
    *,
    start: datetime,
    end: datetime,
    config: DatasetConfig = DatasetConfig(),
    progress: Callable[[int], None] | None = None,
    vocabulary: Vocabulary | None = None,
) -> TrainingSet:
    """Rows from ``histories`` (canonical people with their merged keys, as the backtest reads them) and
    ``outcomes`` (``(person_key, kind, occurred_at)``) for cutoffs in ``[start, end]`` (see the module doc).

    An event applied before a cutoff but dated after it is kept out of that snapshot (and every later event
    too: the fold is ordered), so late-dated data can never leak backwards.

    ``vocabulary`` fixes the signal columns; by default the history's most frequent event types and category
    values are chosen (:func:`.signal_features.choose_vocabulary`, sizes from ``config``).
    """
    times = cutoffs(start, end, config)
    positives: dict[str, list[datetime]] = {}
    for person_key, kind, at in outcomes:
        if kind in config.positive_kinds:
            positives.setdefault(person_key, []).append(at)
    activity = _AccountActivity()
    types: Counter[str] = Counter()
    snapshots: list[tuple[str, _Snapshot]] = []
    for history in histories:
        snapshots += [(history.key, s) for s in _snapshots(history, ruleset, times, activity, types)]
        if progress is not None:
            progress(history.events)
    activity.freeze()
    if vocabulary is None:
        people = (s.person for _, s in snapshots)
        vocabulary = choose_vocabulary(types, people, top_types=config.top_types, top_values=config.top_values)
    spec = feature_spec(ruleset, vocabulary)
    horizon = timedelta(days=config.horizon_days)
    active = timedelta(days=config.active_days)
    rows, labels, stamps, keys = [], [], [], []
    for person_key, snap in snapshots:
        converted = sorted(positives.get(person_key, []))
        if any(t <= snap.as_of for t in converted) or snap.as_of + horizon > end:
            continue
        if snap.as_of < start or snap.cutoff - snap.as_of > active:
            continue
        colleagues = activity.last_seen(snap.person.account_key, snap.as_of)
        rows.append(feature_row(snap.person, colleagues, ruleset, spec, snap.as_of))
        labels.append(int(any(snap.as_of < t <= snap.as_of + horizon for t in converted)))
        stamps.append(snap.as_of.timestamp())
        keys.append(person_key)
    order = np.argsort(np.asarray(stamps), kind="stable")
    features = np.array(rows, dtype=np.float64) if rows else np.empty((0, len(spec.names)))
    total = spec.names.index("score.total")
    data = TrainingSet(
        spec,
        features,
        np.asarray(labels, dtype=np.int64),
        np.asarray(stamps, dtype=np.float64),
        features[:, total] if rows else np.empty(0),
        keys,
    )
    return data.take(order)
