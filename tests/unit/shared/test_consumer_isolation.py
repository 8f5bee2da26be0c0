"""A record whose effects fail deterministically is isolated by bisecting the batch and dead-lettered with its
reason; every other record is applied exactly once, in order. Transient failures still rewind and wait.

The broker is a small in-memory fake with real seek/commit semantics (positions per partition), so what is
checked is the loop's own bookkeeping: which records were applied, which were dead-lettered, where it resumed.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import psycopg.errors
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from peerscore.consumer import ConsumerLoop, DeterministicError, Message, RetryableError
from peerscore.events import DeadLetter
from peerscore.kafka_io import OutgoingRecord
from peerscore.observability import ConsumerMetrics

TOPIC = "events"


class FakeConsumer:
    """Two partitions of numbered records; ``poll`` serves up to ``batch`` records of each from its position."""

    def __init__(self, per_partition: int, partitions: int = 2, batch: int = 50) -> None:
        self.logs = {
            TopicPartition(TOPIC, p): [str(p * 1000 + i).encode() for i in range(per_partition)]
            for p in range(partitions)
        }
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

    def close(self, autocommit: bool = False) -> None:
        return None


class Publisher:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self.records.extend(records)

    def close(self) -> None:
        return None

    def letters(self) -> list[DeadLetter]:
        return [DeadLetter.model_validate_json(r.value) for r in self.records]


def _data_error() -> DataError:
    orig = psycopg.errors.StringDataRightTruncation("value too long for type character varying(255)")
    return DataError("INSERT INTO account ...", {}, orig)


class AtomicHandler:
    """Applies a batch all or nothing, like the scoring worker's one transaction; fails on poison values."""

    def __init__(self, poison: set[int], failure: Any = None, transient_once_at: int | None = None) -> None:
        self.applied: list[int] = []
        self.poison = poison
        self.failure = failure or (lambda: DeterministicError("database: DataError"))
        self.transient_once_at = transient_once_at
        self.calls = 0

    def decode(self, key: bytes | None, value: bytes | None) -> int:
        return int(value or b"0")

    def handle(self, batch: Sequence[Message[int]]) -> None:
        self.calls += 1
        values = [m.value for m in batch]
        if self.transient_once_at in values and len(values) <= 20:  # while bisecting
            self.transient_once_at = None
            raise RetryableError("database unavailable", retry_after=0.0)
        if self.poison & set(values):
            raise self.failure()
        self.applied.extend(values)

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}


def _run(consumer: FakeConsumer, handler: AtomicHandler, publisher: Publisher, total: int) -> tuple[Any, list[float]]:
    waits: list[float] = []

    def sleep(seconds: float) -> bool:
        waits.append(seconds)
        return False

    loop: ConsumerLoop[int] = ConsumerLoop(
        consumer=consumer,  # type: ignore[arg-type]
        topics=[TOPIC],
        handler=handler,
        dlq_topic="events.dlq",
        publisher=publisher,
        metrics=ConsumerMetrics(CollectorRegistry(), "g"),
        sleep=sleep,
    )
    return loop.run(max_messages=total, timeout=30), waits


def _expected(consumer: FakeConsumer, poison: set[int]) -> list[int]:
    return [int(v) for values in consumer.logs.values() for v in values if int(v) not in poison]


def test_poison_records_are_bisected_out_dead_lettered_and_everything_else_applied_once_in_order() -> None:
    consumer, publisher = FakeConsumer(per_partition=120), Publisher()
    poison = {7, 49, 1000, 1119}  # first and last of a partition too
    handler = AtomicHandler(poison)
    stats, waits = _run(consumer, handler, publisher, total=240)

    assert sorted(handler.applied) == _expected(consumer, poison)
    assert len(handler.applied) == len(set(handler.applied)), "a record was applied twice"
    for p in (0, 1):  # per-partition order kept
        mine = [v for v in handler.applied if v // 1000 == p]
        assert mine == sorted(mine)
    letters = publisher.letters()
    assert sorted(int(base64.b64decode(letter.value_b64)) for letter in letters) == sorted(poison)
    assert {(letter.partition, letter.offset) for letter in letters} == {(0, 7), (0, 49), (1, 0), (1, 119)}
    assert all(letter.reason == "effects failed deterministically: database: DataError" for letter in letters)
    assert (stats.handled, stats.dead_lettered, stats.isolated, stats.retries) == (236, 4, 4, 0)
    assert waits == [], "a deterministic failure is not waited on"
    assert consumer.committed == {TopicPartition(TOPIC, 0): 120, TopicPartition(TOPIC, 1): 120}


def test_a_database_error_the_handler_did_not_wrap_is_classified_by_the_shared_rule() -> None:
    consumer, publisher = FakeConsumer(per_partition=20), Publisher()
    handler = AtomicHandler({5}, failure=_data_error)
    stats, _ = _run(consumer, handler, publisher, total=40)

    assert sorted(handler.applied) == _expected(consumer, {5})
    [letter] = publisher.letters()
    assert letter.offset == 5 and "DataError (psycopg.StringDataRightTruncation)" in letter.reason
    assert "varying" not in letter.reason, "database messages quote values: only the kinds are kept"
    assert stats.retries == 0


def test_a_transient_failure_while_bisecting_resumes_after_what_was_settled_without_applying_twice() -> None:
    consumer, publisher = FakeConsumer(per_partition=40), Publisher()
    handler = AtomicHandler({3}, transient_once_at=25)
    stats, waits = _run(consumer, handler, publisher, total=80)

    assert sorted(handler.applied) == _expected(consumer, {3})
    assert len(handler.applied) == len(set(handler.applied)), "a record was applied twice"
    assert len(publisher.letters()) == 1
    assert stats.retries == 1 and len(waits) == 1
    assert consumer.committed[TopicPartition(TOPIC, 0)] == 40


def test_transient_database_errors_are_retried_never_dead_lettered() -> None:
    consumer, publisher = FakeConsumer(per_partition=10, partitions=1), Publisher()

    def fail_once() -> Exception:
        handler.poison.clear()  # the serialization failure passes on the next attempt
        return OperationalError("SELECT 1", {}, psycopg.errors.SerializationFailure("could not serialize"))

    handler = AtomicHandler({4}, failure=fail_once)
    stats, waits = _run(consumer, handler, publisher, total=10)

    assert handler.applied == list(range(10))
    assert publisher.records == [] and stats.retries == 1 and len(waits) == 1


def test_unknown_exceptions_are_retried_not_dead_lettered() -> None:
    consumer, publisher = FakeConsumer(per_partition=5, partitions=1), Publisher()
    raised = []

    def bug() -> Exception:
        raised.append(1)
        if len(raised) == 2:
            handler.poison.clear()
        return KeyError("model file")

    handler = AtomicHandler({2}, failure=bug)
    stats, _ = _run(consumer, handler, publisher, total=5)

    assert handler.applied == list(range(5)) and publisher.records == [] and stats.retries == 2


def test_a_lost_race_is_confirmed_before_a_record_is_dead_lettered() -> None:
    consumer, publisher = FakeConsumer(per_partition=4, partitions=1), Publisher()
    attempts = []

    def race() -> Exception:
        attempts.append(1)
        if len(attempts) == 3:  # the batch, its half, then the record alone: the row exists by now
            handler.poison.clear()
        return IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key"))

    handler = AtomicHandler({1}, failure=race)
    stats, _ = _run(consumer, handler, publisher, total=4)

    assert sorted(handler.applied) == [0, 1, 2, 3] and publisher.records == [] and stats.isolated == 0
