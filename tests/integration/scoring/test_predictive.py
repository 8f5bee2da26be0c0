"""The conversion model in the running worker: real broker, SQLite and PostgreSQL. A promotion made while the
worker runs is hot-loaded (no restart): published scores switch model; a rollback switches them back."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.db import create_tables
from peerscore.events import LeadScore
from peerscore.kafka_io import KafkaPublisher
from peerscore.runtime import BackgroundLoop
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.models import SCORING_TABLES, PersonRow
from peerscore.scoring.predictive import model_registry
from peerscore.scoring.predictive.online import BatchPredictor
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.kafka_helpers import produce
from tests.unit.scoring.predictive.support import generated, register_result, ruleset, trained

pytestmark = pytest.mark.integration


def _register(engine: Engine, seed: int, leaves: int) -> int:
    return register_result(engine, trained(seed, leaves))


class ScoreReader:
    """One group-less consumer on the scores topic, kept open across waits (a group join takes seconds)."""

    def __init__(self, settings: KafkaSettings, topic: str, partitions: int) -> None:
        self._consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest")
        self._consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        self.scores: list[LeadScore] = []

    def wait_for(self, done: Callable[[list[LeadScore]], bool], timeout: float = 40) -> list[LeadScore]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in self._consumer.poll(timeout_ms=300).values():
                self.scores += [LeadScore.model_validate_json(r.value) for r in records]
            if done(self.scores):
                return self.scores
        seen = sorted({str(s.model_version) for s in self.scores})
        raise AssertionError(f"scores never matched; {len(self.scores)} read, model versions {seen}")

    def close(self) -> None:
        self._consumer.close()


def test_promotion_and_rollback_reach_the_running_worker(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher
) -> None:
    create_tables(engine, SCORING_TABLES)
    v1, v2 = _register(engine, 7, 15), _register(engine, 8, 4)
    with Session(engine) as session, session.begin():
        model_registry.promote(session, v1, force=True)  # v1 loses to the rules on its small test period
    events = sorted(generated()[0], key=lambda e: e.occurred_at)[-360:]
    rules = ruleset()
    predictor = BatchPredictor(check_interval_s=0.0)
    loop = scoring_loop(
        kafka_settings,
        engine=engine,
        ruleset=lambda: rules,
        publisher=publisher,
        group_id=unique("predictive"),
        registry=CollectorRegistry(),
        poll_timeout_ms=200,
        predictor=predictor,
    )
    worker = BackgroundLoop(loop, "predictive-test")
    worker.start()
    reader = ScoreReader(kafka_settings, topics.scores, topics.event_partitions)
    try:
        chunks = [events[:120], events[120:240], events[240:]]

        def send(chunk: int) -> None:
            produce(
                kafka_settings, topics.events, [(e.person_key, e.model_dump_json().encode()) for e in chunks[chunk]]
            )

        def scored(chunk: int) -> Callable[[list[LeadScore]], bool]:
            """Scores of a chunk's events: events are in time order, so their score time is the chunk's or later."""
            start = chunks[chunk][0].occurred_at
            return lambda s: any(x.as_of >= start for x in s)

        def versions(chunk: int) -> set[int | None]:
            return {x.model_version for x in reader.scores if x.as_of >= chunks[chunk][0].occurred_at}

        send(0)
        first = reader.wait_for(scored(0))
        assert {x.model_version for x in first} == {v1}
        assert all(x.conversion_probability is not None for x in first)

        with Session(engine) as session, session.begin():
            model_registry.promote(session, v2, force=True)  # while the worker runs: picked up on its next batch
        send(1)
        reader.wait_for(scored(1))
        assert versions(1) == {v2}

        with Session(engine) as session, session.begin():
            model_registry.rollback(session)
        send(2)
        reader.wait_for(scored(2))
        assert versions(2) == {v1}
    finally:
        reader.close()
        worker.stop()
    with Session(engine) as session:
        stored = {r.score.get("model_version") for r in session.exec(select(PersonRow)).all() if r.score}
    assert {v1, v2} <= stored  # the lead API's scores carry the probability too
