"""Handlers that store their offsets with their effects (``keeps_offsets``) get asynchronous Kafka commits: the
commit is only a mirror for lag tools, so the loop does not wait a coordinator round trip per batch. The last
offsets are committed synchronously when the loop stops, and a failed asynchronous commit is counted, not fatal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata, TopicPartition

from peerscore.consumer import Message
from tests.in_memory_kafka import InMemoryConsumer, RecordingPublisher, run_loop

TP = TopicPartition("events", 0)


class CommitLog(InMemoryConsumer):
    """Records which kind of commit the loop made; can fail every asynchronous one through the callback."""

    def __init__(self, records: int, *, fail_async: bool = False) -> None:
        super().__init__({TP: [b"x"] * records}, batch=10)
        self.calls: list[tuple[str, int]] = []
        self.fail_async = fail_async

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.calls.append(("sync", offsets[TP].offset))
        super().commit(offsets)

    def commit_async(self, offsets: dict[TopicPartition, OffsetAndMetadata], callback: Any = None) -> None:
        self.calls.append(("async", offsets[TP].offset))
        if self.fail_async:
            callback(offsets, CommitFailedError("rebalanced"))
            return
        super().commit(offsets)


class Handler:
    def __init__(self, keeps_offsets: bool) -> None:
        self.keeps_offsets = keeps_offsets
        self.applied = 0

    def decode(self, key: bytes | None, value: bytes | None) -> bytes:
        return value or b""

    def handle(self, batch: Sequence[Message[bytes]]) -> None:
        self.applied += len(batch)

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}


def test_a_handler_that_keeps_offsets_gets_async_commits_and_one_sync_commit_at_the_end() -> None:
    consumer = CommitLog(30)
    stats, _ = run_loop(consumer, Handler(keeps_offsets=True), RecordingPublisher(), total=30)
    assert stats.handled == 30
    assert consumer.calls == [("async", 10), ("async", 20), ("async", 30), ("sync", 30)]
    assert consumer.committed[TP] == 30


def test_other_handlers_keep_synchronous_commits() -> None:
    consumer = CommitLog(30)
    run_loop(consumer, Handler(keeps_offsets=False), RecordingPublisher(), total=30)
    assert consumer.calls == [("sync", 10), ("sync", 20), ("sync", 30)]


def test_a_failed_async_commit_is_counted_and_the_final_commit_still_stores_the_offsets() -> None:
    consumer = CommitLog(20, fail_async=True)
    stats, _ = run_loop(consumer, Handler(keeps_offsets=True), RecordingPublisher(), total=20)
    assert stats.handled == 20 and stats.commit_failures == 2
    assert consumer.calls[-1] == ("sync", 20) and consumer.committed[TP] == 20
