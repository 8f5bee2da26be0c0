"""The model's inputs, computed from what scoring already keeps: ONE function for training and serving.

:func:`feature_vector` reads a person's state (the production fold of their own events), the activity times of
their account's people and a time. Training calls it on states replayed from the event history as of each
snapshot (see :mod:`.dataset`); the worker calls it on the states of the batch it just applied. Whatever it
reads must therefore exist at that time: the person state only holds events applied so far, and the account
activity passed in must hold only activity up to ``as_of`` (the dataset builder guarantees it).

Per event kind the features follow the ruleset's event rules (each rule names one kind of event: "pricing page
viewed", "review-site comparison"…): lifetime count, decayed points, occurrences in the last 7 and 30 days and
days since the last one. Then every rule group's score, fit attributes (seniority, company size, personal
email) and the breadth of the account (colleagues active in 7 and 30 days). Then the features of the raw
signal profile, which see every event whether or not a rule names it (:mod:`.signal_features`).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import NamedTuple

import numpy as np

from peerscore.events import Grade, LeadScore
from peerscore.scoring.domain.policy import grade_rank
from peerscore.scoring.domain.ruleset import FIT, Ruleset
from peerscore.scoring.domain.scorecard import compute_scorecard
from peerscore.scoring.domain.state import PersonState

from .signal_features import (
    EMPTY_VOCABULARY,
    SignalLayout,
    Vocabulary,
    fill_signals,
    signal_layout,
    signal_names,
    vocabulary_from,
)

SENIORITY_RANK = {"entry": 0, "individual": 1, "manager": 2, "head": 3, "director": 3, "vp": 4, "c-level": 5}
WINDOWS_DAYS = (7, 30)
BREADTH_WINDOWS_DAYS = (7, 30)
DAY_S = 86_400.0


@dataclass(frozen=True)
class FeatureSpec:
    """The ordered feature names of one ruleset's shape; a model stores its names and is served by them."""

    names: tuple[str, ...]
    event_rules: tuple[str, ...]
    groups: tuple[str, ...]
    half_lives: tuple[float | None, ...] = ()
    """Per event rule, its group's half-life (decay of the points feature)."""
    vocabulary: Vocabulary = EMPTY_VOCABULARY
    rule_features: int = 0
    """How many leading names are rule features (the rest come from the signal profile): the card compares a
    model on those alone with the model on all of them."""

    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    @cached_property
    def layout(self) -> RowLayout:
        """Built on first use, once per spec (the worker keeps its specs)."""
        return row_layout(self)


@dataclass(frozen=True)
class RowLayout:
    """A feature row for a person who never did anything (the template), and where what they did goes: per
    event rule its offset and half-life, the offset of the score/fit/breadth columns, the signal layout. Most
    columns of a lead stay at the template's value, so a row is the template copied and a few slices written."""

    template: list[float]
    rules: dict[str, tuple[int, float | None]]
    scores: int
    signals: SignalLayout


def row_layout(spec: FeatureSpec) -> RowLayout:
    width = len(_NEVER)
    rules = {
        rule_id: (i * width, half_life)
        for i, (rule_id, half_life) in enumerate(zip(spec.event_rules, spec.half_lives, strict=True))
    }
    scores = len(rules) * width
    signals = signal_layout(spec.vocabulary, spec.rule_features)
    template = [*_NEVER * len(rules), *(0.0 for _ in range(spec.rule_features - scores)), *signals.template]
    assert len(template) == len(spec.names), "the layout must cover every feature name"
    return RowLayout(template, rules, scores, signals)


def feature_spec(ruleset: Ruleset, vocabulary: Vocabulary = EMPTY_VOCABULARY) -> FeatureSpec:
    """Rule features of ``ruleset`` (per event rule, group scores, fit, breadth), then the signal-profile
    features of ``vocabulary`` (:mod:`.signal_features`)."""
    rules = [r for r in ruleset.all_rules() if r.group != FIT]
    groups = tuple(ruleset.groups)
    names: list[str] = []
    for rule in rules:
        names += [f"rule.{rule.id}.count", f"rule.{rule.id}.points"]
        names += [f"rule.{rule.id}.n{w}d" for w in WINDOWS_DAYS]
        names.append(f"rule.{rule.id}.days_since")
    names += [f"group.{g}" for g in groups]
    names += ["score.total", "score.activity", "fit.grade", "fit.seniority", "fit.employees_log10"]
    names += ["fit.has_account", "person.events", "person.distinct_rules"]
    names += [f"account.colleagues_{w}d" for w in BREADTH_WINDOWS_DAYS]
    half_lives = tuple(ruleset.groups[r.group].half_life_days for r in rules)
    rule_features = len(names)
    names += signal_names(vocabulary)
    return FeatureSpec(
        names=tuple(names),
        event_rules=tuple(r.id for r in rules),
        groups=groups,
        half_lives=half_lives,
        vocabulary=vocabulary,
        rule_features=rule_features,
    )


def spec_for(ruleset: Ruleset, model_features: Sequence[str]) -> FeatureSpec:
    """The spec to serve a model with under ``ruleset``: today's rules, the model's own signal vocabulary.

    A model trained under another ruleset version keeps serving: :func:`align` maps columns by name, and rule
    features the current ruleset no longer has are NaN (unknown), which LightGBM handles as missing.
    """
    return feature_spec(ruleset, vocabulary_from(model_features))


_NEVER = (0.0, 0.0) + (0.0,) * len(WINDOWS_DAYS) + (math.nan,)
"""One event rule's columns for a person it never matched: count, points, per window, days since."""


def feature_vector(
    person: PersonState,
    colleagues_last_seen: Mapping[str, datetime],
    ruleset: Ruleset,
    spec: FeatureSpec,
    as_of: datetime,
    card: ScoreValues | None = None,
) -> np.ndarray:
    """The features of ``person`` as of ``as_of`` in ``spec`` order (NaN where a value does not exist).

    ``card`` may carry the rule scores the fold already computed at ``as_of`` (:func:`score_values`, the worker
    has them in hand); otherwise they are computed here — the same numbers either way (tested).

    ``colleagues_last_seen`` maps the account's people to their latest activity known at ``as_of`` (the person's
    own entry is ignored); pass ``{}`` when the person has no account.
    """
    return np.asarray(feature_row(person, colleagues_last_seen, ruleset, spec, as_of, card), dtype=np.float64)


def feature_row(
    person: PersonState,
    colleagues_last_seen: Mapping[str, datetime],
    ruleset: Ruleset,
    spec: FeatureSpec,
    as_of: datetime,
    card: ScoreValues | None = None,
) -> list[float]:
    """:func:`feature_vector` as a list. Runs once per scored lead per batch (and per training snapshot), so it
    writes only what the person did into the layout's template, with bisect and plain arithmetic (occurrence
    lists are kept sorted by the fold)."""
    layout = spec.layout
    row = layout.template.copy()
    windows = [as_of - timedelta(days=w) for w in WINDOWS_DAYS]
    for rule_id, tally in person.rules.items():
        place = layout.rules.get(rule_id)
        if place is None:
            continue
        at, half_life = place
        recent = tally.recent
        seen = bisect_right(recent, as_of)
        values = [float(tally.count), tally.value_at(as_of, half_life)]
        values += [float(seen - bisect_right(recent, since, hi=seen)) for since in windows]
        values.append((as_of - recent[seen - 1]).total_seconds() / DAY_S if seen else math.nan)
        row[at : at + len(values)] = values
    if card is None:
        full = compute_scorecard(person, ruleset, as_of)
        card = ScoreValues(full.groups, full.total, full.activity, full.grade)
    scores = [card.groups.get(g, 0.0) for g in spec.groups]
    employees = person.company.employees
    seniority = (person.traits.seniority or "").lower()
    scores += [card.total, card.activity, float(grade_rank(card.grade)), float(SENIORITY_RANK.get(seniority, math.nan))]
    scores.append(math.log10(employees) if employees and employees > 0 else math.nan)
    scores += [float(person.account_key is not None), float(person.version), float(len(person.rules))]
    me = person.person_key
    for w in BREADTH_WINDOWS_DAYS:
        window = timedelta(days=w)
        scores.append(float(sum(1 for k, t in colleagues_last_seen.items() if k != me and abs(as_of - t) < window)))
    row[layout.scores : layout.scores + len(scores)] = scores
    fill_signals(row, layout.signals, person, as_of)
    return row


def feature_matrix(
    rows: Sequence[tuple[PersonState, Mapping[str, datetime], datetime]],
    ruleset: Ruleset,
    spec: FeatureSpec,
    cards: Sequence[ScoreValues | None] | None = None,
) -> np.ndarray:
    """:func:`feature_vector` for ``(person, colleagues_last_seen, as_of)`` rows: shape (rows, features)."""
    if not rows:
        return np.empty((0, len(spec.names)))
    given = cards if cards is not None else [None] * len(rows)
    built = [feature_row(p, c, ruleset, spec, t, k) for (p, c, t), k in zip(rows, given, strict=True)]
    return np.array(built, dtype=np.float64)


class ScoreValues(NamedTuple):
    """The rule scores features use: group points, total, activity and grade (as ``compute_scorecard`` gives)."""

    groups: Mapping[str, float]
    total: float
    activity: float
    grade: Grade


def score_values(score: LeadScore, person: PersonState, ruleset: Ruleset) -> ScoreValues | None:
    """The values of a score the fold produced for exactly this person state (same version and time), else None.

    ``apply_event`` computes the score of the state it returns at ``last_event_at`` with the same scorecard, so
    reusing it saves the worker a second scorecard per lead per batch.
    """
    if score.version != person.version or score.as_of != person.last_event_at:
        return None
    activity = round(sum(score.groups.get(g, 0.0) for g in ruleset.activity_groups()), 2)
    return ScoreValues(score.groups, score.total, activity, score.grade)


def align(matrix: np.ndarray, have: FeatureSpec, want: Sequence[str]) -> np.ndarray:
    """Columns of ``matrix`` (built for ``have``) reordered to a model's ``want`` names; missing ones are NaN,
    so a model keeps serving after the ruleset gained or lost a rule (those inputs are simply unknown)."""
    index = have.index()
    out = np.full((matrix.shape[0], len(want)), np.nan)
    for j, name in enumerate(want):
        i = index.get(name)
        if i is not None:
            out[:, j] = matrix[:, i]
    return out
