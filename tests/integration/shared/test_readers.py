"""Group-less readers (the rules watcher, the CRM dead-letter replay) on both clients: the calls they make, in
their order — metadata, assignment from the beginning, a measured end, polls, close — on the embedded broker."""

from __future__ import annotations

import time

import pytest
from kafka.structs import TopicPartition

from peerscore.kafka_io import make_reader
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration


def test_a_reader_reads_every_partition_from_the_beginning_and_knows_when_it_is_caught_up(
    kafka_settings: KafkaSettings, topics: Topics
) -> None:
    records = [(f"person-{i % 7}", f"value-{i}".encode()) for i in range(40)]
    produce(kafka_settings, topics.events, records)
    reader = make_reader(kafka_settings, unique("reader"))
    received: list[tuple[str | None, bytes | None]] = []
    try:
        assert reader.partitions_for_topic(unique("missing")) in (None, set())
        partitions = reader.partitions_for_topic(topics.events) or set()
        assert partitions == set(range(kafka_settings.event_partitions))
        assigned = [TopicPartition(topics.events, p) for p in sorted(partitions)]
        reader.assign(assigned)
        reader.seek_to_beginning()
        floor = reader.end_offsets(assigned)
        assert sum(floor.values()) > 0  # a lower bound on Tansu (kafka-notes.md), exact on Kafka
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batch = [
                (r.key.decode() if r.key else None, r.value) for rs in reader.poll(timeout_ms=300).values() for r in rs
            ]
            received += batch
            if not batch and all((reader.position(tp) or 0) >= floor[tp] for tp in assigned) and len(received) >= 40:
                break
    finally:
        reader.close(autocommit=False)
    assert sorted(received) == sorted(records)


def test_a_reader_of_an_empty_topic_is_caught_up_at_once(kafka_settings: KafkaSettings, topics: Topics) -> None:
    reader = make_reader(kafka_settings, unique("reader"))
    try:
        assigned = [TopicPartition(topics.rules, p) for p in sorted(reader.partitions_for_topic(topics.rules) or ())]
        reader.assign(assigned)
        reader.seek_to_beginning()
        floor = reader.end_offsets(assigned)
        assert not any(reader.poll(timeout_ms=500).values())
        assert all((reader.position(tp) or 0) >= floor[tp] for tp in assigned)
    finally:
        reader.close(autocommit=False)
