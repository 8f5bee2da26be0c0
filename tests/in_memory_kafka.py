"""A broker-free consumer and publisher for driving the real :class:`peerscore.consumer.ConsumerLoop`.

The consumer keeps real positions per partition (``poll`` advances them, ``seek`` moves them, ``commit`` must
never go backwards), so tests check the loop's own bookkeeping — what it applied, dead-lettered, resumed from —
without an embedded broker per example (property tests run dozens of examples).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import CollectorRegistry

from peerscore.consumer import BatchHandler, ConsumerLoop, LoopStats
from peerscore.events import DeadLetter
from peerscore.kafka_io import OutgoingRecord
from peerscore.observability import ConsumerMetrics


class InMemoryConsumer:
    """Partitions of record values; ``poll`` serves up to ``batch`` records of each from its position."""

    def __init__(self, logs: dict[TopicPartition, list[bytes]], batch: int = 50) -> None:
        self.logs = logs
        self.positions = dict.fromkeys(self.logs, 0)
        self.committed: dict[TopicPartition, int] = {}
        self.batch = batch

    def subscribe(self, topics: Sequence[str], listener: Any = None) -> None:
        return None

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[ConsumerRecord]]:
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        blank = dict.fromkeys(ConsumerRecord._fields, -1)
        for tp, values in self.logs.items():
            start = self.positions[tp]
            chunk = values[start : start + self.batch]
            if chunk:
                out[tp] = [
                    ConsumerRecord(**blank)._replace(
                        topic=tp.topic, partition=tp.partition, offset=start + i, timestamp=0, key=b"k", value=v
                    )
                    for i, v in enumerate(chunk)
                ]
                self.positions[tp] = start + len(chunk)
        return out

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def assignment(self) -> set[TopicPartition]:
        return set(self.logs)

    def highwater(self, tp: TopicPartition) -> int | None:
        return None

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        for tp, meta in offsets.items():
            assert meta.offset >= self.committed.get(tp, 0), "a commit went backwards"
            self.committed[tp] = meta.offset

    def commit_async(self, offsets: dict[TopicPartition, OffsetAndMetadata], callback: Any = None) -> None:
        self.commit(offsets)

    def close(self, autocommit: bool = False) -> None:
        return None


class RecordingPublisher:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self.records.extend(records)

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self) -> None:
        return None

    def letters(self) -> list[DeadLetter]:
        return [DeadLetter.model_validate_json(r.value) for r in self.records]


def run_loop(
    consumer: InMemoryConsumer, handler: BatchHandler[Any], dead_letters: RecordingPublisher, total: int
) -> tuple[LoopStats, list[float]]:
    """Run the real loop until ``total`` records were applied or dead-lettered (or 10 s); the waits it asked."""
    waits: list[float] = []

    def sleep(seconds: float) -> bool:
        waits.append(seconds)
        return False

    loop: ConsumerLoop[Any] = ConsumerLoop(
        consumer=consumer,  # type: ignore[arg-type]
        topics=list({tp.topic for tp in consumer.logs}),
        handler=handler,
        dlq_topic="dlq",
        publisher=dead_letters,
        metrics=ConsumerMetrics(CollectorRegistry(), "g"),
        sleep=sleep,
    )
    return loop.run(max_messages=total, timeout=10), waits
