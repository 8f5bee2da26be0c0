"""The outcomes topic's handler for the shared :class:`~peerscore.consumer.ConsumerLoop`.

Storage is idempotent on the outcome id, so the loop's Kafka-committed offsets are enough: a record redelivered
after a crash is simply ignored (no offsets need to live in the database).
"""

from __future__ import annotations

from collections.abc import Sequence

from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.consumer import ConsumerLoop, InvalidMessage, Message
from peerscore.events import Outcome
from peerscore.failures import database_step
from peerscore.kafka_io import Publisher, make_consumer
from peerscore.observability import ConsumerMetrics
from peerscore.scoring.outcomes.store import store_outcomes
from peerscore.settings import KafkaSettings


class OutcomeHandler:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def decode(self, key: bytes | None, value: bytes | None) -> Outcome:
        if value is None:
            raise InvalidMessage("empty record value")
        try:
            return Outcome.model_validate_json(value)
        except ValidationError as exc:
            raise InvalidMessage(f"not an Outcome: {exc.errors()[0]['msg']}") from None

    def handle(self, batch: Sequence[Message[Outcome]]) -> None:
        with database_step(), Session(self._engine) as session, session.begin():
            store_outcomes(session, [m.value for m in batch])

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}


def outcome_loop(*, kafka: KafkaSettings, group_id: str, engine: Engine, publisher: Publisher) -> ConsumerLoop[Outcome]:
    """The consumer loop that stores the outcomes topic (its own consumer group, so it never steals events).

    Its metrics go to a registry of their own: :class:`ConsumerMetrics` registers fixed metric names, so a second
    loop in the service's registry would collide with the events loop's.
    """
    topics = kafka.topics()
    return ConsumerLoop(
        consumer=make_consumer(kafka, group_id),
        topics=[topics.outcomes],
        handler=OutcomeHandler(engine),
        dlq_topic=topics.events_dlq,
        publisher=publisher,
        metrics=ConsumerMetrics(CollectorRegistry(), group_id),
    )
