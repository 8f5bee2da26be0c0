"""The Kafka contract tests of this folder run once per client library (``KAFKA_CLIENT``): kafka-python and
confluent-kafka must behave the same on the embedded broker (commits, rebalances, dead letters, acknowledgements)."""

from __future__ import annotations

import pytest

from peerscore.settings import KafkaSettings

CLIENTS = ["kafka-python", "confluent"]


@pytest.fixture(params=CLIENTS)
def kafka_client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def kafka_settings(kafka_settings: KafkaSettings, kafka_client: str) -> KafkaSettings:
    """The shared fixture's settings (unique topics and client id per test) with the client under test."""
    return kafka_settings.model_copy(update={"client": kafka_client})
