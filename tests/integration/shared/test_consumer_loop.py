"""The generic consumer loop on the real embedded broker: DLQ, commits, retries in order, stored offsets."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from peerscore.consumer import ConsumerLoop, InvalidMessage, Message, RetryableError
from peerscore.events import DeadLetter
from peerscore.kafka_io import KafkaPublisher, make_consumer
from peerscore.observability import ConsumerMetrics
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration


class RecordingHandler:
    """Decodes JSON objects with an ``n`` field; can fail a number of times before accepting a batch."""

    def __init__(self, fail_times: int = 0, stored: dict[TopicPartition, int] | None = None) -> None:
        self.seen: list[int] = []
        self.fail_times = fail_times
        self.attempts = 0
        self.stored = stored or {}

    def decode(self, key: bytes | None, value: bytes | None) -> int:
        try:
            return int(json.loads(value or b"")["n"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidMessage(f"not a counter record: {type(exc).__name__}") from exc

    def handle(self, batch: Sequence[Message[int]]) -> None:
        self.attempts += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RetryableError("database unavailable", retry_after=0.05)
        self.seen.extend(m.value for m in batch)

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: o for tp, o in self.stored.items() if tp in partitions}


def _loop(
    settings: KafkaSettings, topics: Topics, handler: RecordingHandler, group: str, publisher: KafkaPublisher
) -> ConsumerLoop[int]:
    return ConsumerLoop(
        consumer=make_consumer(settings, group),
        topics=[topics.events],
        handler=handler,
        dlq_topic=topics.events_dlq,
        publisher=publisher,
        metrics=ConsumerMetrics(CollectorRegistry(), group),
        poll_timeout_ms=200,
    )


def _single_partition_records(count: int, bad: set[int]) -> list[tuple[str | None, bytes]]:
    return [("k", b"{garbage" if i in bad else json.dumps({"n": i}).encode()) for i in range(count)]


def test_invalid_records_go_to_the_dlq_with_reason_and_valid_ones_are_handled_in_order(
    kafka_settings: KafkaSettings, topics: Topics, publisher: KafkaPublisher
) -> None:
    produce(kafka_settings, topics.events, _single_partition_records(20, bad={3, 11}))
    handler = RecordingHandler()
    stats = _loop(kafka_settings, topics, handler, unique("g"), publisher).run(max_messages=20, timeout=30)

    assert handler.seen == [i for i in range(20) if i not in {3, 11}]
    assert stats.dead_lettered == 2
    letters = [DeadLetter.model_validate_json(v) for _, v in read_topic(kafka_settings, topics.events_dlq, expect=2)]
    assert sorted(letter.offset for letter in letters if letter.offset is not None) == [3, 11]
    assert all("not a counter record" in letter.reason for letter in letters)


def test_offsets_are_committed_so_a_restarted_group_resumes_after_the_last_batch(
    kafka_settings: KafkaSettings, topics: Topics, publisher: KafkaPublisher
) -> None:
    group = unique("g")
    produce(kafka_settings, topics.events, _single_partition_records(10, bad=set()))
    first = RecordingHandler()
    _loop(kafka_settings, topics, first, group, publisher).run(max_messages=10, timeout=30)
    produce(kafka_settings, topics.events, [("k", json.dumps({"n": 10 + i}).encode()) for i in range(5)])
    second = RecordingHandler()
    _loop(kafka_settings, topics, second, group, publisher).run(max_messages=5, timeout=30)

    assert first.seen == list(range(10))
    assert second.seen == list(range(10, 15))


def test_retryable_failures_replay_the_same_batch_without_losing_order(
    kafka_settings: KafkaSettings, topics: Topics, publisher: KafkaPublisher
) -> None:
    produce(kafka_settings, topics.events, _single_partition_records(30, bad=set()))
    handler = RecordingHandler(fail_times=3)
    stats = _loop(kafka_settings, topics, handler, unique("g"), publisher).run(max_messages=30, timeout=30)

    assert handler.seen == list(range(30))
    assert stats.retries == 3


def test_handler_stored_offsets_win_over_the_group_position(
    kafka_settings: KafkaSettings, topics: Topics, publisher: KafkaPublisher
) -> None:
    produce(kafka_settings, topics.events, _single_partition_records(10, bad=set()))
    stored = {TopicPartition(topics.events, p): 6 for p in range(kafka_settings.event_partitions)}
    handler = RecordingHandler(stored=stored)
    _loop(kafka_settings, topics, handler, unique("g"), publisher).run(max_messages=4, timeout=30)

    assert handler.seen == [6, 7, 8, 9]


def test_stop_ends_a_running_loop_promptly(
    kafka_settings: KafkaSettings, topics: Topics, publisher: KafkaPublisher
) -> None:
    loop = _loop(kafka_settings, topics, RecordingHandler(), unique("g"), publisher)
    loop.stop()
    stats = loop.run(timeout=30)
    assert stats.batches == 0
