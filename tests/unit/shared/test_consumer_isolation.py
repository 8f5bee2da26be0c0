"""A record whose effects fail deterministically is isolated by bisecting the batch and dead-lettered with its
reason; every other record is applied exactly once, in order. Transient failures still rewind and wait.

The broker is an in-memory fake with real seek/commit semantics (tests.in_memory_kafka), so what is checked is
the loop's own bookkeeping: which records were applied, which were dead-lettered, where it resumed.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import psycopg.errors
from kafka.structs import TopicPartition
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from peerscore.consumer import DeterministicError, Message, RetryableError
from tests.in_memory_kafka import InMemoryConsumer, run_loop
from tests.in_memory_kafka import RecordingPublisher as Publisher

TOPIC = "events"


class FakeConsumer(InMemoryConsumer):
    """Partitions of numbered records (partition p holds p*1000 + i)."""

    def __init__(self, per_partition: int, partitions: int = 2, batch: int = 50) -> None:
        logs = {
            TopicPartition(TOPIC, p): [str(p * 1000 + i).encode() for i in range(per_partition)]
            for p in range(partitions)
        }
        super().__init__(logs, batch)


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
    return run_loop(consumer, handler, publisher, total)


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
