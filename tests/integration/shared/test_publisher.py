"""The producer wrapper when the broker goes away: publish fails loudly, close still finishes."""

from __future__ import annotations

import gc
import time

import pytest
from kafka.errors import KafkaError

from peerscore.dev.broker import EmbeddedBroker, free_port
from peerscore.kafka_io import OutgoingRecord, make_publisher
from peerscore.settings import KafkaSettings

pytestmark = pytest.mark.integration


def test_close_finishes_even_with_unacknowledged_records_and_leaves_nothing_for_gc(kafka_client: str) -> None:
    broker = EmbeddedBroker(port=free_port()).start()
    settings = KafkaSettings(
        bootstrap_servers=broker.bootstrap_servers,
        max_block_ms=2000,
        request_timeout_ms=2000,
        ack_timeout_ms=3000,
        client=kafka_client,
    )
    publisher = make_publisher(settings, "close-test")
    try:
        publisher.publish([OutgoingRecord("close-test", "k", b"acknowledged")], wait=True)
    finally:
        broker.stop()
    with pytest.raises(KafkaError):
        publisher.publish([OutgoingRecord("close-test", "k", b"never acknowledged")], wait=True)

    started = time.monotonic()
    publisher.close(timeout=1)
    assert time.monotonic() - started < 10
    del publisher
    gc.collect()  # under filterwarnings=error, a half-closed producer's __del__ would fail this test here
