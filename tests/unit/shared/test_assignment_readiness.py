"""Readiness that means ready: ``/readyz`` answers 503 until the consumer's group join gave it its share of the
partitions (possibly none), and again while a rebalance has taken everything away. No broker: a fake consumer
calls the rebalance listener the way kafka-python does (eager protocol: revoke everything, then assign)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from peerscore.assignment import AssignmentState, AwaitingGroupJoin, Rebalancing
from peerscore.consumer import ConsumerLoop, Message
from peerscore.kafka_io import OutgoingRecord
from peerscore.observability import ConsumerMetrics, health_router
from peerscore.runtime import BackgroundLoop

P0, P1 = TopicPartition("events", 0), TopicPartition("events", 1)


def test_not_ready_before_the_first_assignment() -> None:
    state = AssignmentState("events")
    with pytest.raises(AwaitingGroupJoin):
        state.check()
    assert not state.ready and not state.snapshot().joined


def test_ready_once_assigned_even_an_empty_share() -> None:
    """More members than partitions: an idle member has joined and holds its (empty) share — a hot standby."""
    state = AssignmentState("events")
    state.assigned([])
    state.check()
    assert state.ready and state.snapshot().partitions == frozenset()


def test_an_eager_rebalance_is_not_ready_until_the_new_share_arrives() -> None:
    state = AssignmentState("events")
    state.assigned([P0, P1])
    state.revoked([P0, P1])
    with pytest.raises(Rebalancing):
        state.check()
    state.assigned([P1])
    assert state.ready and state.snapshot().partitions == {P1} and state.snapshot().assignments == 2


def test_an_idle_member_is_rebalancing_too_when_its_empty_share_is_revoked() -> None:
    state = AssignmentState("events")
    state.assigned([])
    state.revoked([])
    assert not state.ready
    state.assigned([P0])
    assert state.ready


def test_a_partial_cooperative_revocation_keeps_the_member_ready() -> None:
    state = AssignmentState("events")
    state.assigned([P0, P1])
    state.revoked([P0])
    assert state.ready and state.snapshot().partitions == {P1}


def test_eviction_is_not_ready_until_rejoined() -> None:
    state = AssignmentState("events")
    state.assigned([P0])
    state.lost([P0])
    with pytest.raises(Rebalancing):
        state.check()
    assert state.snapshot().partitions == frozenset()
    state.assigned([P0])
    assert state.ready


def test_a_revocation_before_any_join_still_awaits_the_join() -> None:
    state = AssignmentState("events")
    state.revoked([])
    with pytest.raises(AwaitingGroupJoin):
        state.check()


def test_the_snapshot_says_how_long_the_share_has_been_held() -> None:
    now = [100.0]
    state = AssignmentState("events", clock=lambda: now[0])
    assert state.snapshot().since_s is None
    state.assigned([P0])
    now[0] = 102.5
    assert state.snapshot().since_s == 2.5


class JoiningConsumer:
    """Joins its group (calls the listener) when ``join`` is set, the way kafka-python does inside ``poll``."""

    def __init__(self, share: list[TopicPartition]) -> None:
        self.share = share
        self.listener: Any = None
        self.join = threading.Event()
        self.rebalance = threading.Event()
        self.joined = False
        self.seeks: list[tuple[TopicPartition, int]] = []

    def subscribe(self, topics: Sequence[str], listener: Any = None) -> None:
        self.listener = listener

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[ConsumerRecord]]:
        if self.rebalance.is_set() and self.joined:
            self.rebalance.clear()
            self.listener.on_partitions_revoked(set(self.share))
            self.joined = False
        elif self.join.is_set() and not self.joined:
            self.listener.on_partitions_assigned(set(self.share))
            self.joined = True
        time.sleep(0.01)
        return {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def assignment(self) -> set[TopicPartition]:
        return set(self.share) if self.joined else set()

    def highwater(self, tp: TopicPartition) -> int | None:
        return None

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        return None

    def close(self, autocommit: bool = False) -> None:
        return None


class StoredOffsetsHandler:
    def decode(self, key: bytes | None, value: bytes | None) -> bytes:
        return value or b""

    def handle(self, batch: Sequence[Message[bytes]]) -> None:
        return None

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 42)


class NoPublisher:
    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        raise AssertionError("nothing is dead-lettered here")

    def flush(self, timeout: float | None = None) -> None:
        return None


def readiness_app(background: BackgroundLoop) -> TestClient:
    app = FastAPI()
    app.include_router(health_router(CollectorRegistry(), {"consumer": background.check}))
    return TestClient(app)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("share", [[P0, P1], []], ids=["partitions", "empty-share"])
def test_readyz_goes_from_503_to_200_when_the_group_join_assigns_the_share(share: list[TopicPartition]) -> None:
    consumer = JoiningConsumer(share)
    loop = ConsumerLoop(
        consumer=consumer,
        topics=["events"],
        handler=StoredOffsetsHandler(),
        dlq_topic="events.dlq",
        publisher=NoPublisher(),
        metrics=ConsumerMetrics(CollectorRegistry(), "g"),
        poll_timeout_ms=10,
    )
    background = BackgroundLoop(loop, "test-consumer")
    client = readiness_app(background)
    background.start()
    try:
        wait_for(lambda: consumer.listener is not None)
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["checks"] == {"consumer": "unavailable: AwaitingGroupJoin"}

        consumer.join.set()
        wait_for(lambda: client.get("/readyz").status_code == 200)
        assert sorted(consumer.seeks) == [(tp, 42) for tp in sorted(share)]  # sought before counting as held
        assert loop.assignment.snapshot().partitions == frozenset(share)

        consumer.rebalance.set()  # revoked now; the fake rejoins on the next poll (join is still set)
        wait_for(lambda: loop.assignment.snapshot().assignments == 2)
        assert client.get("/readyz").status_code == 200
    finally:
        background.stop(5)
    assert client.get("/readyz").json()["checks"] == {"consumer": "unavailable: RuntimeError"}


def test_a_loop_without_an_assignment_state_is_ready_while_it_runs() -> None:
    """Other background loops (anything with run/stop) keep the old meaning: running is ready."""

    class Idle:
        def __init__(self) -> None:
            self.stopped = threading.Event()

        def run(self) -> None:
            self.stopped.wait()

        def stop(self) -> None:
            self.stopped.set()

    background = BackgroundLoop(Idle(), "idle")
    background.start()
    try:
        assert background.assignment is None
        background.check()
    finally:
        background.stop(5)
