"""On the embedded broker (plaintext only): the security mapping still round-trips, topics with retention are
created (Tansu accepts the configs without applying them, kafka-notes.md)."""

from __future__ import annotations

import time

import pytest

from peerscore.kafka_connect import TlsListenerError
from peerscore.kafka_io import OutgoingRecord, make_consumer, make_publisher
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics
from tests.conftest import unique

pytestmark = pytest.mark.integration


def test_explicit_plaintext_round_trip_and_topics_with_retention(kafka_settings: KafkaSettings) -> None:
    settings = kafka_settings.model_copy(update={"security_protocol": "PLAINTEXT", "retention_stream_days": 2})
    topics = settings.topics()
    assert ensure_topics(settings) == [spec.name for spec in topics.specs()]
    assert ensure_topics(settings) == []  # idempotent

    publisher = make_publisher(settings, "security-round-trip")
    try:
        publisher.publish([OutgoingRecord(topics.events, "person-key", b"over plaintext")], wait=True)
    finally:
        publisher.close()
    consumer = make_consumer(settings, unique("security"))
    consumer.subscribe([topics.events])
    received: list[bytes] = []
    deadline = time.monotonic() + 20
    try:
        while not received and time.monotonic() < deadline:
            received += [r.value for rs in consumer.poll(timeout_ms=500).values() for r in rs]
    finally:
        consumer.close(autocommit=False)
    assert received == [b"over plaintext"]


def test_tls_settings_against_the_plaintext_broker_fail_fast_instead_of_hanging(kafka_settings: KafkaSettings) -> None:
    """kafka-python alone waits forever in the handshake here; every factory checks the listener first."""
    settings = kafka_settings.model_copy(update={"security_protocol": "SSL", "tls_handshake_timeout_ms": 2000})
    started = time.monotonic()
    with pytest.raises(TlsListenerError, match="plaintext listener"):
        make_publisher(settings, "tls-to-plaintext")
    with pytest.raises(TlsListenerError):
        ensure_topics(settings)
    assert time.monotonic() - started < 2 * 2.0 + 5
