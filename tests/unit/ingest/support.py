"""Helpers for the ingest unit tests: a recording publisher and an app wired to it (no broker)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Sequence

from fastapi.testclient import TestClient
from pydantic import SecretStr

from peerscore.ingest.app import create_app
from peerscore.ingest.settings import IngestConfig, IngestSettings
from peerscore.kafka_io import OutgoingRecord
from peerscore.settings import IdentitySettings, KafkaSettings, RuntimeSettings

WRITE_KEY = "wk-test-primary"
SECOND_KEY = "wk-test-rotated"
SECOND_SOURCE = "mobile-app"
SECRET = b"unit-test-person-key-secret"


class RecordingPublisher:
    """Implements the Publisher protocol; keeps every publish call, or fails/stalls on demand."""

    def __init__(self, fail: Exception | None = None, stall_s: float = 0.0) -> None:
        self.calls: list[tuple[list[OutgoingRecord], bool]] = []
        self.fail = fail
        self.stall_s = stall_s
        self.released = threading.Event()

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        if self.stall_s:
            self.released.wait(self.stall_s)
        if self.fail is not None:
            raise self.fail
        self.calls.append((list(records), wait))

    def flush(self, timeout: float | None = None) -> None:
        return None

    @property
    def records(self) -> list[OutgoingRecord]:
        return [r for records, _ in self.calls for r in records]


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def make_settings(**overrides: object) -> IngestSettings:
    """The first key has no source name (events are named after the SDK), the second is bound to one."""
    keys = [SecretStr(WRITE_KEY), f"{SECOND_KEY}:{SECOND_SOURCE}"]
    return IngestSettings(write_keys=keys).model_copy(update=overrides)


def make_client(publisher: RecordingPublisher, **overrides: object) -> TestClient:
    app = create_app(
        IngestConfig(
            make_settings(**overrides),
            IdentitySettings(person_key_secret=SecretStr(SECRET.decode())),
            RuntimeSettings(env="dev"),
            KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="unit"),
        ),
        publisher=publisher,
    )
    return TestClient(app)


def track(n: int = 0, **extra: object) -> dict[str, object]:
    call: dict[str, object] = {
        "type": "track",
        "event": "Demo Requested",
        "userId": f"user-{n}",
        "messageId": f"msg-{n}-{time.monotonic_ns()}",
        "timestamp": "2024-05-01T12:00:00Z",
        "properties": {"plan": "enterprise"},
    }
    call.update(extra)
    return call
