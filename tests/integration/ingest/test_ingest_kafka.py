"""Through a real broker: HTTP batch → KafkaPublisher (acks=all) → events topic, read back by a consumer."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from peerscore.events import EngagementEvent
from peerscore.ingest.app import create_app
from peerscore.ingest.settings import IngestConfig, IngestSettings
from peerscore.settings import IdentitySettings, KafkaSettings, RuntimeSettings
from peerscore.topics import Topics
from tests.kafka_helpers import read_topic
from tests.unit.ingest.support import TestClient, basic

pytestmark = pytest.mark.integration

WRITE_KEY = "wk-integration"


def app_client(kafka_settings: KafkaSettings) -> TestClient:
    """No publisher injected: the app's lifespan builds (and closes) a real KafkaPublisher."""
    app = create_app(
        IngestConfig(
            IngestSettings(write_keys=[SecretStr(WRITE_KEY)]),
            IdentitySettings(person_key_secret=SecretStr("integration-person-secret")),
            RuntimeSettings(env="dev"),
            kafka_settings,
        ),
    )
    return TestClient(app)


def segment_call(n: int, **extra: object) -> dict[str, object]:
    call: dict[str, object] = {
        "type": "track",
        "event": "Content Downloaded",
        "userId": f"it-user-{n % 3}",
        "messageId": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
        "context": {"library": {"name": "analytics-python", "version": "2.3.0"}},
        "properties": {"asset": f"whitepaper-{n}"},
        "integrations": {},
    }
    call.update(extra)
    return call


def test_batch_lands_on_the_events_topic_keyed_by_person(kafka_settings: KafkaSettings, topics: Topics) -> None:
    calls = [segment_call(n) for n in range(9)]
    calls.append(
        {
            "type": "identify",
            "userId": "it-user-0",
            "messageId": str(uuid.uuid4()),
            "traits": {"email": "pat@acme-industries.com", "title": "VP Sales"},
        }
    )
    body = {"batch": calls, "sentAt": datetime.now(UTC).isoformat(), "writeKey": WRITE_KEY}
    with app_client(kafka_settings) as client:
        response = client.post("/v1/batch", json=body, headers=basic(WRITE_KEY))
        assert response.status_code == 200, response.text

    records = read_topic(kafka_settings, topics.events, expect=len(calls), timeout=30, grace_s=0.5)
    assert len(records) == len(calls)
    events = [EngagementEvent.model_validate_json(value) for _, value in records]
    keys = [key or "" for key, _ in records]
    assert all("@" not in key and key.startswith("p_") for key in keys)
    assert keys == [e.person_key for e in events]
    assert len(set(keys)) == 3  # three users, the identify shares it-user-0's key
    assert {e.event_id for e in events} == {c["messageId"] for c in calls}
    identify = next(e for e in events if e.type == "identify")
    assert identify.account.domain == "acme-industries.com"


def test_rudder_style_gzip_request_without_body_key(kafka_settings: KafkaSettings, topics: Topics) -> None:
    """rudder-sdk-python: gzip body by default, Basic auth, no writeKey in the body, channel/integrations set."""
    calls = [
        segment_call(n, channel="server", integrations={"All": True}, anonymousId=str(uuid.uuid4())) for n in range(3)
    ]
    calls[0].pop("userId")
    body = gzip.compress(json.dumps({"batch": calls, "sentAt": datetime.now(UTC).isoformat()}).encode())
    headers = {
        **basic(WRITE_KEY),
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "User-Agent": "analytics-python/2.1.0",
    }
    with app_client(kafka_settings) as client:
        response = client.post("/v1/batch", content=body, headers=headers)
        assert (response.status_code, response.json()) == (200, {"success": True})

    records = read_topic(kafka_settings, topics.events, expect=3, timeout=30, grace_s=0.5)
    events = [EngagementEvent.model_validate_json(value) for _, value in records]
    assert sorted(e.properties["asset"] for e in events) == ["whitepaper-0", "whitepaper-1", "whitepaper-2"]
    assert all(e.type == "content.downloaded" for e in events)


@pytest.mark.slow
def test_broker_down_answers_503_with_retry_after() -> None:
    """A broker of our own, stopped mid-test: the acknowledgement never comes, so nothing is claimed accepted."""
    from peerscore.dev.broker import EmbeddedBroker, free_port
    from peerscore.topics import ensure_topics

    broker = EmbeddedBroker(port=free_port()).start()
    try:
        own = KafkaSettings(
            bootstrap_servers=broker.bootstrap_servers, topic_prefix=f"down_{uuid.uuid4().hex[:8]}", event_partitions=2
        )
        ensure_topics(own)
        app = create_app(
            IngestConfig(
                IngestSettings(write_keys=[SecretStr(WRITE_KEY)], publish_timeout_s=3.0),
                IdentitySettings(person_key_secret=SecretStr("integration-person-secret")),
                RuntimeSettings(env="dev"),
                own,
            ),
        )
        with TestClient(app) as client:
            assert (
                client.post("/v1/batch", json={"batch": [segment_call(1)]}, headers=basic(WRITE_KEY)).status_code == 200
            )
            broker.stop()
            started = time.monotonic()
            response = client.post("/v1/batch", json={"batch": [segment_call(2)]}, headers=basic(WRITE_KEY))
            assert response.status_code == 503
            assert int(response.headers["Retry-After"]) > 0
            assert time.monotonic() - started < 10
            assert client.get("/readyz").status_code == 503
    finally:
        broker.stop()
