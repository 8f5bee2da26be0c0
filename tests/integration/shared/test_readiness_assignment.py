"""``/readyz`` on the real embedded broker: 503 while the group join is under way, 200 once the consumer holds its
partitions — and a member that joins a group with more members than partitions is ready with an empty share."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from peerscore.consumer import ConsumerLoop, Message
from peerscore.kafka_io import KafkaPublisher, make_consumer
from peerscore.observability import ConsumerMetrics, health_router
from peerscore.runtime import BackgroundLoop
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique

pytestmark = pytest.mark.integration


class Ignore:
    def decode(self, key: bytes | None, value: bytes | None) -> bytes:
        return value or b""

    def handle(self, batch: Sequence[Message[bytes]]) -> None:
        return None

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}


def member(settings: KafkaSettings, topic: str, group: str, publisher: KafkaPublisher) -> BackgroundLoop:
    loop: ConsumerLoop[bytes] = ConsumerLoop(
        consumer=make_consumer(settings, group),
        topics=[topic],
        handler=Ignore(),
        dlq_topic=f"{topic}.unused-dlq",
        publisher=publisher,
        metrics=ConsumerMetrics(CollectorRegistry(), group),
        poll_timeout_ms=200,
    )
    return BackgroundLoop(loop, f"readiness-{group}")


def readiness(background: BackgroundLoop) -> TestClient:
    app = FastAPI()
    app.include_router(health_router(CollectorRegistry(), {"consumer": background.check}))
    return TestClient(app)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - started


def test_readyz_is_503_during_the_group_join_and_200_once_partitions_are_assigned(
    kafka_settings: KafkaSettings, topics: Topics, publisher: KafkaPublisher
) -> None:
    group = unique("ready")
    first = member(kafka_settings, topics.rules, group, publisher)  # the rules topic has one partition
    client = readiness(first)
    first.start()
    second: BackgroundLoop | None = None
    try:
        early = client.get("/readyz")
        assert early.status_code == 503
        assert early.json()["checks"]["consumer"] == "unavailable: AwaitingGroupJoin"
        joined_s = wait_until(lambda: client.get("/readyz").status_code == 200, 60, "the first member's join")
        assert first.assignment is not None
        assert first.assignment.snapshot().partitions == {TopicPartition(topics.rules, 0)}
        print(f"first member ready {joined_s:.1f}s after start")

        second = member(kafka_settings, topics.rules, group, publisher)
        second_client = readiness(second)
        second.start()
        assert second_client.get("/readyz").status_code == 503
        wait_until(lambda: second_client.get("/readyz").status_code == 200, 60, "the second member's join")
        wait_until(lambda: client.get("/readyz").status_code == 200, 60, "the first member's rejoin")
        assert second.assignment is not None
        shares = [first.assignment.snapshot().partitions, second.assignment.snapshot().partitions]
        assert sorted(len(s) for s in shares) == [0, 1], "one partition, two members: one holds it, one stands by"
        assert second.assignment.snapshot().assignments == 1
    finally:
        for background in (first, second):
            if background is not None:
                background.stop(15)
