"""The audit trail adds up, and cold leads are recycled by the decay sweep exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.events import LeadTransition
from peerscore.kafka_io import KafkaPublisher
from peerscore.scoring.domain.engine import score_person
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.domain.state import PersonState
from peerscore.scoring.models import LedgerRow, PersonRow
from peerscore.scoring.sweeper import DecaySweeper
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.support import END, journey_events, snapshot
from tests.integration.scoring.test_scoring_worker import produce_events, run_scoring
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


def decayed(points: float, occurred_at: datetime, as_of: datetime, half_life_days: float | None) -> float:
    if half_life_days is None:
        return points
    return points * 0.5 ** ((as_of - occurred_at) / timedelta(days=half_life_days))


def test_every_score_is_the_decayed_sum_of_its_ledger(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine
) -> None:
    events = journey_events(people=60, seed=17)
    produce_events(kafka_settings, topics.events, events)
    run_scoring(kafka_settings, engine, unique("scoring"), expect=len(events))
    ruleset = load_default_ruleset()
    as_of = END + timedelta(days=10)
    with Session(engine) as session:
        people = {r.person_key: PersonState.model_validate(r.state) for r in session.exec(select(PersonRow))}
        ledger = session.exec(select(LedgerRow)).all()
    assert len(people) > 40 and len(ledger) > len(people)
    checked = 0
    for key, person in people.items():
        score = score_person(person, None, ruleset, as_of)
        rows = [r for r in ledger if r.person_key == key]
        for group, spec in ruleset.groups.items():
            total = sum(decayed(r.points, r.occurred_at, as_of, spec.half_life_days) for r in rows if r.group == group)
            expected = max(0.0, min(total, spec.cap)) if spec.cap is not None else max(0.0, total)
            assert score.groups[group] == pytest.approx(expected, abs=0.011), (key, group)
            checked += 1
    assert checked == len(people) * len(ruleset.groups)


def test_decay_sweep_recycles_cold_leads_once_and_is_not_activity(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher
) -> None:
    events = journey_events(people=60, seed=23)
    produce_events(kafka_settings, topics.events, events)
    group = unique("scoring")
    run_scoring(kafka_settings, engine, group, expect=len(events))
    with Session(engine) as session:
        qualified = {r.person_key for r in session.exec(select(PersonRow).where(PersonRow.qualified))}
    assert qualified
    activity_before = snapshot(engine)["activity"]
    ruleset = load_default_ruleset()
    months_later = END + timedelta(days=120)
    sweeper = DecaySweeper(
        engine=engine,
        ruleset=lambda: ruleset,
        publisher=publisher,
        events_topic=topics.events,
        interval_s=3600,
        clock=lambda: months_later,
    )

    assert sweeper.sweep_once() == len(qualified)
    assert sweeper.sweep_once() == len(qualified), "swept again before the worker ran: same ids, deduplicated"
    run_scoring(kafka_settings, engine, group, expect=2 * len(qualified))

    with Session(engine) as session:
        assert not session.exec(select(PersonRow).where(PersonRow.qualified)).all()
    transitions = [
        LeadTransition.model_validate_json(v)
        for _, v in read_topic(kafka_settings, topics.qualified, expect=2 * len(qualified), grace_s=1.0)
    ]
    recycled = [t.person_key for t in transitions if t.kind == "recycled"]
    assert sorted(recycled) == sorted(qualified), "each cold lead recycled exactly once"
    assert snapshot(engine)["activity"] == activity_before, "a decay check is not buyer activity"
    assert sweeper.sweep_once() == 0
