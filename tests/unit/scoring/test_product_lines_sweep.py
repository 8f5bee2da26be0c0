"""The decay sweep finds leads that went cold for a product line, also when they are MQLs of that line only."""

from __future__ import annotations

from unittest import mock

from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.db import create_tables
from peerscore.events import EngagementEvent, LeadScore
from peerscore.kafka_io import KafkaPublisher
from peerscore.scoring import store
from peerscore.scoring.domain import PersonState, apply_event, new_person, parse_ruleset
from peerscore.scoring.domain.recycling import needs_recycling
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.sweeper import DecaySweeper
from tests.unit.scoring.builders import T0, days, event, small_ruleset
from tests.unit.scoring.test_product_lines import two_lines

FADING = parse_ruleset(two_lines().replace("product_x: {cap: 30}", "product_x: {cap: 30, half_life_days: 5}"))


def line_only_mql() -> tuple[PersonState, LeadScore | None]:
    person, score = new_person("p1"), None
    for evt in (
        event("identify", T0, traits={"seniority": "VP"}, email="vp@acme.com"),
        event("webinar.attended", T0),
        event("webinar.attended", T0),
    ):
        applied = apply_event(person, None, evt, FADING)
        person, score = applied.person, applied.score
    assert person.qualified_lines == ["x"] and not person.qualified
    return person, score


def test_a_line_that_went_cold_needs_recycling() -> None:
    person, _ = line_only_mql()
    assert not needs_recycling(person, FADING, T0 + days(1))
    assert needs_recycling(person, FADING, T0 + days(20))  # 20·2^-4 = 1.25 < 5
    assert not needs_recycling(person, small_ruleset(), T0 + days(20))  # lines no longer declared: nothing to do


def test_the_sweep_finds_mqls_of_a_line_only(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    with Session(engine) as session, session.begin():
        store.save_people(session, [line_only_mql()], T0)
    publisher = mock.create_autospec(KafkaPublisher, instance=True, spec_set=True)
    sweeper = DecaySweeper(
        engine=engine,
        ruleset=lambda: FADING,
        publisher=publisher,
        events_topic="t.events",
        interval_s=3600,
        clock=lambda: T0 + days(20),
    )
    assert sweeper.sweep_once() == 1
    [published] = publisher.publish.call_args.args[0]
    assert published.value is not None and EngagementEvent.model_validate_json(published.value).person_key == "p1"
    sweeper = DecaySweeper(
        engine=engine,
        ruleset=lambda: FADING,
        publisher=publisher,
        events_topic="t.events",
        interval_s=3600,
        clock=lambda: T0 + days(1),
    )
    assert sweeper.sweep_once() == 0  # still warm
