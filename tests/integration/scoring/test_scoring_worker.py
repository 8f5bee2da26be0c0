"""The scoring handler inside the real consumer loop, on the embedded broker and both databases."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from peerscore.consumer import ConsumerLoop, Message
from peerscore.db import create_tables
from peerscore.events import DeadLetter, EngagementEvent, LeadScore, LeadTransition
from peerscore.kafka_io import KafkaPublisher, make_publisher
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES, LedgerRow, OutboxRow, PersonRow
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.support import journey_events, snapshot
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration


def make_handler(
    topics: Topics, engine: Engine, group: str, registry: CollectorRegistry, publisher: KafkaPublisher
) -> ScoringHandler:
    create_tables(engine, SCORING_TABLES)
    ruleset = load_default_ruleset()
    return ScoringHandler(
        engine=engine,
        ruleset=lambda: ruleset,
        topics=topics,
        publisher=publisher,
        group_id=group,
        metrics=ScoringMetrics(registry),
    )


def run_scoring(
    settings: KafkaSettings,
    engine: Engine,
    group: str,
    expect: int,
    kafka_group: str | None = None,
    timeout: float = 90,
) -> ConsumerLoop[EngagementEvent]:
    registry = CollectorRegistry()
    publisher = make_publisher(settings)
    create_tables(engine, SCORING_TABLES)
    ruleset = load_default_ruleset()
    loop = scoring_loop(
        settings,
        engine=engine,
        ruleset=lambda: ruleset,
        publisher=publisher,
        group_id=group,
        registry=registry,
        poll_timeout_ms=200,
        kafka_group_id=kafka_group,
    )
    loop.run(max_messages=expect, timeout=timeout)
    publisher.close()
    return loop


def produce_events(settings: KafkaSettings, topic: str, events: list[EngagementEvent]) -> None:
    produce(settings, topic, [(e.person_key, e.model_dump_json().encode()) for e in events])


def test_events_are_scored_ledgered_and_qualified_leads_emitted(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine
) -> None:
    events = journey_events(people=40)
    duplicate = events[5]
    produce_events(kafka_settings, topics.events, events)
    produce(kafka_settings, topics.events, [(duplicate.person_key, duplicate.model_dump_json().encode())])
    produce(kafka_settings, topics.events, [("p_bad", b'{"type": "page.viewed"}')])

    loop = run_scoring(kafka_settings, engine, unique("scoring"), expect=len(events) + 2)
    # The last batch's published outputs are deleted by the next transaction (a batch, or an idle poll): here a
    # restarted worker's first idle poll, which publishes them again (at-least-once) and deletes them.
    publisher = make_publisher(kafka_settings)
    make_handler(topics, engine, unique("restarted"), CollectorRegistry(), publisher).on_idle()
    publisher.close()

    assert loop.stats.handled == len(events) + 1
    assert loop.stats.dead_lettered == 1
    with Session(engine) as session:
        people = session.exec(select(PersonRow)).all()
        assert {p.person_key for p in people} == {e.person_key for e in events}
        per_person = {p.person_key: p.version for p in people}
        expected_versions: dict[str, int] = {}
        for e in events:
            expected_versions[e.person_key] = expected_versions.get(e.person_key, 0) + 1
        assert per_person == expected_versions, "each distinct event applied once; the duplicate ignored"
        assert session.exec(select(func.count()).select_from(LedgerRow)).one() > 0
        assert session.exec(select(func.count()).select_from(OutboxRow)).one() == 0, "outbox drained"
        qualified = [p for p in people if p.qualified]
    assert qualified, "the generated buying committees must produce MQLs"

    transitions = [
        LeadTransition.model_validate_json(v)
        for _, v in read_topic(kafka_settings, topics.qualified, expect=len(qualified))
    ]
    assert {t.person_key for t in transitions if t.kind == "qualified"} >= {p.person_key for p in qualified}
    assert all(t.contact.email and t.score.reasons for t in transitions)
    scores = [LeadScore.model_validate_json(v) for _, v in read_topic(kafka_settings, topics.scores, expect=10)]
    assert scores and all("@" not in s.person_key for s in scores)
    letters = [DeadLetter.model_validate_json(v) for _, v in read_topic(kafka_settings, topics.events_dlq, expect=1)]
    assert len(letters) == 1 and "EngagementEvent" in letters[0].reason


def test_stored_offsets_win_over_missing_kafka_offsets(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine
) -> None:
    """A consumer whose Kafka group never committed still resumes where the database says."""
    events = journey_events(people=15, seed=5)
    produce_events(kafka_settings, topics.events, events)
    group = unique("scoring")
    run_scoring(kafka_settings, engine, group, expect=len(events))
    before = snapshot(engine)

    loop = run_scoring(kafka_settings, engine, group, expect=1, kafka_group=unique("fresh-kafka-group"), timeout=12)

    assert loop.stats.polled == 0
    assert snapshot(engine) == before


def test_redelivered_records_inside_a_batch_are_skipped_in_the_transaction(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine
) -> None:
    """The crash window between the database commit and the Kafka commit re-delivers records: no effect."""
    events = journey_events(people=10, seed=3)
    registry = CollectorRegistry()
    publisher = make_publisher(kafka_settings)
    handler = make_handler(topics, engine, unique("scoring"), registry, publisher)
    batch = [Message(topics.events, 0, i, e.person_key, e, 0) for i, e in enumerate(events)]
    try:
        handler.handle(batch)
        before = snapshot(engine)
        handler.handle(batch[len(batch) // 2 :])
    finally:
        publisher.close()

    assert snapshot(engine) == before
    skipped = registry.get_sample_value("peerscore_scoring_replayed_records_skipped_total")
    assert skipped == len(batch) - len(batch) // 2
