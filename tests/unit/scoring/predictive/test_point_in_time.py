"""Point-in-time training sets: nothing after a snapshot may change its features or leak into them."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from peerscore.events import EngagementEvent
from peerscore.scoring.predictive.dataset import DatasetConfig, TrainingSet, build_training_set
from peerscore.scoring.predictive.signal_features import Vocabulary
from peerscore.scoring.predictive.sources import group_by_person
from tests.unit.scoring.builders import T0, days, event, small_ruleset

CONFIG = DatasetConfig(horizon_days=10, snapshot_every_days=7, active_days=30)
END = T0 + days(60)
CUTOFF = T0 + days(7)
VOCABULARY = Vocabulary(types=("demo.requested", "page.viewed", "webinar.attended"))


def _profile(person: str, at: datetime) -> EngagementEvent:
    return event(
        "identify", at, person=person, domain="acme.com", traits={"seniority": "vp"}, account={"employees": 500}
    )


def _past() -> list[EngagementEvent]:
    """Before the first cutoff: p1 researches, colleague p2 shows up after p1's last event (so not yet seen)."""
    return [
        _profile("p1", T0),
        event("page.viewed", T0 + days(1), person="p1", url="/pricing", domain="acme.com"),
        event("page.viewed", T0 + days(2), person="p1", url="/pricing", domain="acme.com"),
        _profile("p2", T0 + days(1)),
        event("webinar.attended", T0 + days(1.5), person="p2", domain="acme.com"),
        event("webinar.attended", T0 + days(3), person="p2", domain="acme.com"),
    ]


def _future() -> list[EngagementEvent]:
    """After the cutoff: more pricing, a demo, a busy colleague and a new one."""
    return [
        event("page.viewed", T0 + days(9), person="p1", url="/pricing", domain="acme.com"),
        event("demo.requested", T0 + days(10), person="p1", domain="acme.com"),
        event("webinar.attended", T0 + days(8), person="p2", domain="acme.com"),
        _profile("p3", T0 + days(8)),
    ]


def _build(events: list[EngagementEvent], outcomes: list[tuple[str, str, datetime]] | None = None) -> TrainingSet:
    """A fixed signal vocabulary: chosen from the data, it would differ with and without the future events."""
    events = sorted(events, key=lambda e: e.occurred_at)
    return build_training_set(
        group_by_person(events),
        outcomes or [],
        small_ruleset(),
        start=T0,
        end=END,
        config=CONFIG,
        vocabulary=VOCABULARY,
    )


def _row(data: TrainingSet, person: str, as_of: datetime) -> np.ndarray:
    found = [i for i, k in enumerate(data.person_keys) if k == person and data.as_of[i] == as_of.timestamp()]
    assert len(found) == 1, (person, as_of, data.person_keys)
    return data.features[found[0]]


def test_future_events_do_not_change_a_snapshot() -> None:
    only_past = _build(_past())
    with_future = _build(_past() + _future())
    as_of = T0 + days(2)  # p1's last event before the first cutoff
    assert np.array_equal(_row(only_past, "p1", as_of), _row(with_future, "p1", as_of), equal_nan=True)
    # ...while the future does change p1's later snapshot, so the comparison above could fail.
    later = _row(with_future, "p1", T0 + days(10))
    assert not np.array_equal(later, _row(only_past, "p1", as_of), equal_nan=True)


def test_breadth_counts_only_colleagues_seen_by_the_snapshot() -> None:
    data = _build(_past() + _future())
    index = data.spec.index()
    p1 = _row(data, "p1", T0 + days(2))
    assert p1[index["account.colleagues_7d"]] == 1  # p2 (seen at day 1.5); not day 3, 8 or p3
    p2 = _row(data, "p2", T0 + days(3))
    assert p2[index["account.colleagues_7d"]] == 1  # p1 (day 2)
    assert p1[index["rule.pricing.count"]] == 2


def test_an_event_applied_before_the_cutoff_but_dated_after_stays_out() -> None:
    early_applied_late_dated = event("demo.requested", T0 + days(12), person="p1", domain="acme.com")
    events = sorted(_past(), key=lambda e: e.occurred_at) + [early_applied_late_dated]
    # group_by_person keeps arrival order: the demo is applied last but dated after the cutoff
    data = build_training_set(group_by_person(events), [], small_ruleset(), start=T0, end=END, config=CONFIG)
    row = _row(data, "p1", T0 + days(2))
    assert row[data.spec.index()["rule.demo.count"]] == 0


def test_labels_look_only_forward_and_converted_leads_leave() -> None:
    outcomes = [
        ("p1", "opportunity_created", T0 + days(6)),  # within 10 days of p1's day-2 snapshot
        ("p2", "accepted", T0 + days(5)),  # not a positive kind
    ]
    data = _build(_past() + _future(), outcomes)
    labels = {(k, t): int(y) for k, t, y in zip(data.person_keys, data.as_of, data.labels, strict=True)}
    assert labels[("p1", (T0 + days(2)).timestamp())] == 1
    assert labels[("p2", (T0 + days(3)).timestamp())] == 0
    # p1 converted on day 6: its later snapshot (day 10) is no longer a lead to predict
    assert ("p1", (T0 + days(10)).timestamp()) not in labels


def test_rows_whose_horizon_passes_the_end_are_dropped() -> None:
    data = build_training_set(
        group_by_person(sorted(_past(), key=lambda e: e.occurred_at)),
        [],
        small_ruleset(),
        start=T0,
        end=T0 + days(12.5),  # p1's day-2 snapshot is mature (day 12), p2's day-3 one is not (day 13)
        config=CONFIG,
    )
    assert data.person_keys == ["p1"]


def test_serving_with_the_folds_score_gives_the_training_features() -> None:
    """Online, the worker passes the score the fold just computed; training computes it: same numbers."""
    from peerscore.scoring.domain import apply_event, new_person
    from peerscore.scoring.predictive.features import feature_spec, feature_vector, score_values

    from .support import generated, ruleset

    rules = ruleset()
    spec = feature_spec(rules)
    compared = 0
    for history in group_by_person(generated()[0])[:60]:
        key = history.key
        person, score = new_person(key), None
        for e in history.stream(key):
            applied = apply_event(person, None, e, rules)
            person, score = applied.person, applied.score or score
        assert score is not None and person.last_event_at is not None
        values = score_values(score, person, rules)
        assert values is not None
        served = feature_vector(person, {}, rules, spec, person.last_event_at, values)
        trained = feature_vector(person, {}, rules, spec, person.last_event_at)
        assert np.array_equal(served, trained, equal_nan=True), key
        compared += 1
    assert compared == 60
