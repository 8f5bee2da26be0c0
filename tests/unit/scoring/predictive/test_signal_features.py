"""The model sees every signal: raw-signal features, their vocabulary, serving parity and what they are worth.

A generated world where conversion follows an event type no rule names ("Integration Connected"): the model on
all features must beat the same training on the rule features alone, on the same held-out rows. Serving (the
worker's working fold, batch by batch, and the spec rebuilt from the model's feature names) must give exactly
the dataset builder's rows.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import cache

import numpy as np

from peerscore.events import EngagementEvent
from peerscore.scoring.domain import new_person
from peerscore.scoring.domain.working import WorkingPerson
from peerscore.scoring.predictive.dataset import DatasetConfig, TrainingSet, build_training_set
from peerscore.scoring.predictive.features import align, feature_matrix, feature_spec, spec_for
from peerscore.scoring.predictive.signal_features import Vocabulary, signal_names, vocabulary_from
from peerscore.scoring.predictive.sources import group_by_person
from peerscore.scoring.predictive.training import train_model
from tests.unit.scoring.builders import T0, days, event, small_ruleset

from .support import TINY

RULESET = small_ruleset()
END = T0 + days(150)
UNNAMED = "integration.connected"
PAGES = ["/pricing", "/blog/post", "/docs/setup", "/careers", "/customers/acme"]


def _journey(rng: random.Random, n: int) -> tuple[list[EngagementEvent], list[tuple[str, str, datetime]]]:
    """One person: sessions of page views (and webinars); a third of people connect an integration, and most of
    those convert within days. Pricing visits are as common for everyone, so the rules can hardly tell."""
    key, start = f"p{n}", T0 + days(rng.uniform(0, 115))
    props = {"referrer": rng.choice(["https://www.google.com/", "https://www.g2.com/x", ""])}
    events, outcomes = [], []
    for s in range(rng.randint(2, 7)):
        at = start + days(rng.uniform(0, 30)) + timedelta(minutes=s)
        for i in range(rng.randint(1, 3)):
            url = rng.choice(PAGES)
            events.append(event("page.viewed", at + timedelta(minutes=3 * i), person=key, url=url, properties=props))
        if rng.random() < 0.15:
            events.append(event("webinar.attended", at + timedelta(minutes=20), person=key))
    if rng.random() < 0.33:
        connected = start + days(rng.uniform(0, 30))
        events.append(event(UNNAMED, connected, person=key))
        if rng.random() < 0.75:
            outcomes.append((key, "opportunity_created", connected + days(rng.uniform(1, 10))))
    elif rng.random() < 0.06:
        outcomes.append((key, "opportunity_created", start + days(rng.uniform(0, 40))))
    return events, outcomes


@cache
def world() -> tuple[list[EngagementEvent], list[tuple[str, str, datetime]]]:
    rng = random.Random(11)
    events, outcomes = [], []
    for n in range(900):
        e, o = _journey(rng, n)
        events += e
        outcomes += o
    return sorted(events, key=lambda e: e.occurred_at), outcomes


@cache
def data() -> TrainingSet:
    events, outcomes = world()
    config = DatasetConfig(horizon_days=14, snapshot_every_days=3, active_days=30)
    return build_training_set(group_by_person(events), outcomes, RULESET, start=T0, end=END, config=config)


def test_the_vocabulary_comes_from_the_data_and_round_trips_through_the_names() -> None:
    spec = data().spec
    assert UNNAMED in spec.vocabulary.types
    assert f"type.{UNNAMED}.count" in spec.names and f"rule.{UNNAMED}.count" not in spec.names
    assert vocabulary_from(spec.names) == spec.vocabulary
    fixed = Vocabulary(types=("a.b", "c"), categories=(("seniority", ("vp",)), ("function", ()), ("industry", ())))
    rebuilt = vocabulary_from(signal_names(fixed))
    assert rebuilt.types == fixed.types and rebuilt.values("seniority") == ("vp",)


def test_serving_the_working_fold_state_gives_the_training_row() -> None:
    """Each row of the dataset builder against the worker's path: the person's events folded batch by batch
    through ``WorkingPerson`` up to the row's time, features built with the spec rebuilt from the model's
    names (:func:`spec_for`, what the online predictor does), columns mapped by name."""
    rows = data()
    serving = spec_for(RULESET, rows.spec.names)
    by_person = {h.key: h.stream(h.key) for h in group_by_person(world()[0])}
    rng, compared = random.Random(3), 0
    for i in rng.sample(range(len(rows)), 150):
        key = rows.person_keys[i]
        as_of = datetime.fromtimestamp(float(rows.as_of[i]), T0.tzinfo)
        stream = [e for e in by_person[key] if e.occurred_at <= as_of]
        person = new_person(key)
        for start in range(0, len(stream), 4):  # the worker: one working person per batch
            working = WorkingPerson(person)
            for e in stream[start : start + 4]:
                working.fold(e, RULESET)
            person = working.state()
        served = align(feature_matrix([(person, {}, as_of)], RULESET, serving), serving, rows.spec.names)
        assert np.array_equal(served[0], rows.features[i], equal_nan=True), key
        compared += 1
    assert compared == 150


def test_all_features_beat_the_rule_features_when_conversion_follows_an_unnamed_signal() -> None:
    rows = data()
    result = train_model(rows, TINY)
    assert result.model_text is not None, result.fallback_reason
    test = result.card["test"]
    everything, rules_only = test["model"]["roc_auc"], test["model_rule_features"]["roc_auc"]
    print(
        f"\nheld-out ROC-AUC on {test['model']['rows']} rows: all features {everything:.3f}, "
        f"rule features only {rules_only:.3f}, rules score {test['rules']['roc_auc']:.3f}; "
        f"PR-AUC {test['model']['pr_auc']:.3f} vs {test['model_rule_features']['pr_auc']:.3f}"
    )
    assert everything > rules_only + 0.05
    assert result.card["feature_sets"]["signals"] == len(rows.spec.names) - rows.spec.rule_features
    top = [f["feature"] for f in result.card["feature_importance"][:5]]
    assert any(f.startswith(f"type.{UNNAMED}.") for f in top), top


def test_a_model_keeps_serving_under_a_ruleset_without_some_of_its_rules() -> None:
    """Trained under one ruleset version, served under the next: rule features it no longer has are NaN, the
    raw-signal columns are still computed (the vocabulary comes from the model's names)."""
    rows = data()
    newer = small_ruleset(**{"  - id: careers\n": "  - id: careers-pages\n"})
    serving = spec_for(newer, rows.spec.names)
    first = world()[0][0]
    working = WorkingPerson(new_person(first.person_key))
    working.fold(first, newer)
    person = working.state()
    assert person.last_event_at is not None
    inputs = align(feature_matrix([(person, {}, person.last_event_at)], newer, serving), serving, rows.spec.names)
    index = rows.spec.index()
    assert np.isnan(inputs[0, index["rule.careers.count"]])
    assert inputs[0, index["signal.events"]] == 1.0
    assert serving.names[: serving.rule_features] == feature_spec(newer).names[: serving.rule_features]
