"""A broker that goes away makes kafka-python 3 raise out of ``poll()``; the loop must wait and poll again,
never die (a dead loop thread stops a service's consuming for good, which the broker-restart fault test found)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaConnectionError
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from peerscore.consumer import ConsumerLoop, Message
from peerscore.kafka_io import OutgoingRecord
from peerscore.observability import ConsumerMetrics

TP = TopicPartition("events", 0)


class FlakyConsumer:
    """Raises like kafka-python does while the broker is down, then serves one record."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.committed: list[dict[TopicPartition, Any]] = []
        self.delivered = False

    def subscribe(self, topics: Sequence[str], listener: Any = None) -> None:
        self.topics = list(topics)

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[ConsumerRecord]]:
        if self.failures:
            self.failures -= 1
            raise KafkaConnectionError("111 ECONNREFUSED")
        if self.delivered:
            return {}
        self.delivered = True
        fields = dict.fromkeys(ConsumerRecord._fields, -1)
        record = ConsumerRecord(**{**fields, "topic": "events", "partition": 0, "offset": 7, "timestamp": 0})
        record = record._replace(key=b"k", value=b"hello", headers=[])
        return {TP: [record]}

    def assignment(self) -> set[TopicPartition]:
        return {TP} if self.delivered else set()

    def highwater(self, tp: TopicPartition) -> int | None:
        return None

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.committed.append(offsets)

    def close(self, autocommit: bool = False) -> None:
        self.closed = True


class Recorder:
    def __init__(self) -> None:
        self.handled: list[str] = []

    def decode(self, key: bytes | None, value: bytes | None) -> str:
        return (value or b"").decode()

    def handle(self, batch: Sequence[Message[str]]) -> None:
        self.handled.extend(m.value for m in batch)

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}


class NoPublisher:
    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        raise AssertionError("nothing should be dead-lettered")

    def close(self) -> None:
        pass


def test_poll_errors_back_off_and_the_loop_goes_on() -> None:
    consumer, handler, waits = FlakyConsumer(failures=3), Recorder(), []

    def sleep(seconds: float) -> bool:
        waits.append(seconds)
        return False

    loop: ConsumerLoop[str] = ConsumerLoop(
        consumer=consumer,  # type: ignore[arg-type]
        topics=["events"],
        handler=handler,
        dlq_topic="events.dlq",
        publisher=NoPublisher(),
        metrics=ConsumerMetrics(CollectorRegistry(), "g"),
        sleep=sleep,
    )
    stats = loop.run(max_messages=1, timeout=30)

    assert stats.poll_errors == 3 and stats.handled == 1 and handler.handled == ["hello"]
    assert waits == sorted(waits) and len(waits) == 3, "waits grow while the broker stays away"
    assert consumer.committed and consumer.committed[-1][TP].offset == 8
