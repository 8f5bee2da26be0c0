"""Shared fixtures: the real embedded broker, unique topic sets, and both databases.

* ``broker_bootstrap`` starts one Tansu for the session (or uses ``KAFKA_BOOTSTRAP_SERVERS`` when set).
* ``topics``/``kafka_settings`` give every test its own topic prefix, so tests never see each other's records.
* ``database_url`` runs a test on SQLite, and on PostgreSQL when ``TEST_DATABASE_URL`` is set (CI sets it), each
  in a fresh schema/file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from peerscore.db import make_engine
from peerscore.kafka_io import KafkaPublisher, make_publisher
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics, ensure_topics

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def broker_bootstrap() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    from peerscore.dev.broker import EmbeddedBroker, free_port

    with EmbeddedBroker(port=free_port()) as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def kafka_settings(broker_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=broker_bootstrap,
        topic_prefix=unique("t").replace("-", "_"),
        event_partitions=4,
        client_id=unique("test"),
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )


@pytest.fixture
def topics(kafka_settings: KafkaSettings) -> Topics:
    t = kafka_settings.topics()
    ensure_topics(kafka_settings, t)
    return t


def _database_params() -> list[object]:
    params: list[object] = [pytest.param("sqlite", id="sqlite")]
    params.append(
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=pytest.mark.skipif(POSTGRES_URL is None, reason="TEST_DATABASE_URL not set"),
        )
    )
    return params


@pytest.fixture(params=_database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite file, or a fresh PostgreSQL schema (pinned in the URL's search_path) dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with postgres_schema("t") as url:
        yield url


@contextmanager
def postgres_schema(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL schema on TEST_DATABASE_URL, pinned in the yielded URL's search_path, dropped after."""
    assert POSTGRES_URL is not None
    schema = unique(prefix).replace("-", "_")
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def publisher(kafka_settings: KafkaSettings) -> Iterator[KafkaPublisher]:
    """A real acks=all publisher, closed after the test (a leaked producer fails a later test when collected)."""
    pub = make_publisher(kafka_settings, "test")
    yield pub
    pub.close()
