"""Small Kafka helpers for tests: produce raw records, read a topic to the end of what arrives in time."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from kafka import KafkaConsumer, KafkaProducer

from peerscore.settings import KafkaSettings


def produce(settings: KafkaSettings, topic: str, records: Iterable[tuple[str | None, bytes]]) -> None:
    producer = KafkaProducer(**settings.client_options(), acks="all", linger_ms=5)
    try:
        for key, value in records:
            producer.send(topic, key=key.encode() if key is not None else None, value=value)
        producer.flush(30)
    finally:
        producer.close(5)


def read_topic(
    settings: KafkaSettings, topic: str, *, expect: int, timeout: float = 20.0, grace_s: float = 0.0
) -> list[tuple[str | None, bytes]]:
    """Read from the beginning until ``expect`` records arrived or ``timeout`` passed, then keep polling for
    ``grace_s`` so that more records than expected (a duplicate publish) show up too."""
    consumer = KafkaConsumer(
        topic,
        **settings.client_options(),
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    out: list[tuple[str | None, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expect and time.monotonic() < deadline:
            out.extend(_poll(consumer, 200))
        if grace_s > 0:
            out.extend(_poll(consumer, int(grace_s * 1000)))
    finally:
        consumer.close(autocommit=False)
    return out


def _poll(consumer: KafkaConsumer, timeout_ms: int) -> list[tuple[str | None, bytes]]:
    return [
        (r.key.decode() if r.key is not None else None, r.value)
        for records in consumer.poll(timeout_ms=timeout_ms).values()
        for r in records
    ]
