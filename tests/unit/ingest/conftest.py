"""Fixtures for the ingest unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.ingest.support import RecordingPublisher, TestClient, make_client


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def client(publisher: RecordingPublisher) -> Iterator[TestClient]:
    with make_client(publisher) as c:
        yield c
