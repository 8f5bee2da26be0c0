"""Raw source topics through the real broker: the ingest app's lifespan runs the source consumers, valid records
land on the events topic (keyed by person) and malformed ones on the dead-letter topic with reason and bytes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from kafka.admin import KafkaAdminClient, NewTopic
from pydantic import SecretStr

from peerscore.events import DeadLetter, EngagementEvent
from peerscore.ingest.app import create_app
from peerscore.ingest.settings import IngestConfig, IngestSettings, LinkedInSettings, SourceTopicSettings
from peerscore.settings import IdentitySettings, KafkaSettings, RuntimeSettings
from peerscore.topics import Topics
from tests.kafka_helpers import produce, read_topic
from tests.unit.ingest.support import TestClient

pytestmark = pytest.mark.integration


def source_settings(kafka_settings: KafkaSettings) -> SourceTopicSettings:
    prefix = kafka_settings.topic_prefix
    return SourceTopicSettings(
        enabled=True,
        linkedin_leads_topic=f"{prefix}.src.leads",
        linkedin_social_topic=f"{prefix}.src.social",
        content_topic=f"{prefix}.src.content",
        group_id=f"{prefix}-sources",
        poll_timeout_ms=100,
    )


def create_source_topics(kafka_settings: KafkaSettings, sources: SourceTopicSettings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap_servers)
    try:
        names = [sources.linkedin_leads_topic, sources.linkedin_social_topic, sources.content_topic]
        admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1) for name in names])
    finally:
        admin.close()


LEAD = {
    "id": "kafka-lead-1",
    "leadType": "SPONSORED",
    "submittedAt": 1714564800000,
    "submitter": "urn:li:person:kafka-member",
    "formResponse": {
        "answers": [
            {
                "questionId": 1,
                "predefinedField": "EMAIL",
                "answerDetails": {"textQuestionAnswer": {"answer": "sam@globex.example"}},
            },
            {
                "questionId": 2,
                "predefinedField": "JOB_TITLE",
                "answerDetails": {"textQuestionAnswer": {"answer": "CFO"}},
            },
        ],
        "consentResponses": [{"consentId": 7, "accepted": False}],
    },
}
SOCIAL = {
    "type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS",
    "notifications": [
        {"notificationId": 51, "action": "COMMENT", "actor": "urn:li:person:c1", "sourcePost": "urn:li:share:5"},
        {"notificationId": 52, "action": "LIKE", "actor": "urn:li:person:c2", "sourcePost": "urn:li:share:5"},
    ],
}
CONTENT = {"id": "dl-1", "event": "Content Downloaded", "email": "sam@globex.example", "occurred_at": 1714564800000}


def test_source_topics_feed_the_events_topic_and_the_dlq(kafka_settings: KafkaSettings, topics: Topics) -> None:
    sources = source_settings(kafka_settings)
    create_source_topics(kafka_settings, sources)
    bad_content = json.dumps({**CONTENT, "event": "Lunch Eaten"}).encode()
    produce(
        kafka_settings,
        sources.linkedin_leads_topic,
        [(None, json.dumps(LEAD).encode()), (None, json.dumps(LEAD).encode())],  # LinkedIn-style duplicate
    )
    produce(kafka_settings, sources.linkedin_social_topic, [("org", json.dumps(SOCIAL).encode())])
    produce(kafka_settings, sources.content_topic, [(None, json.dumps(CONTENT).encode()), ("k", bad_content)])
    app = create_app(
        IngestConfig(
            IngestSettings(write_keys=["wk-sources"]),
            IdentitySettings(person_key_secret=SecretStr("sources-integration-secret")),
            RuntimeSettings(env="dev"),
            kafka_settings,
            sources=sources,
        ),
    )
    with TestClient(app) as client:
        events_raw = read_topic(kafka_settings, topics.events, expect=5, timeout=40)
        dead_raw = read_topic(kafka_settings, topics.events_dlq, expect=1, timeout=20)
        assert client.get("/readyz").json()["checks"]["sources"] == "ok"
        metrics = client.get("/metrics").text
    assert 'peerscore_consumer_dead_letters_total{group="' + sources.group_id + '"} 1.0' in metrics

    events = [EngagementEvent.model_validate_json(value) for _, value in events_raw]
    assert sorted(e.type for e in events) == [
        "content.downloaded",
        "linkedin.lead_form.submitted",
        "linkedin.lead_form.submitted",
        "linkedin.post.engaged",
        "linkedin.post.engaged",
    ]
    assert all(key == e.person_key and "@" not in (key or "") for (key, _), e in zip(events_raw, events, strict=True))
    leads = [e for e in events if e.type == "linkedin.lead_form.submitted"]
    assert leads[0].event_id == leads[1].event_id  # the duplicate keeps its id: deduplicated downstream
    assert leads[0].consent["opted_out"] is True
    assert leads[0].traits.title == "CFO"
    download = next(e for e in events if e.type == "content.downloaded")
    assert download.person_key == leads[0].person_key  # same email, same person key, same partition

    [(dead_key, dead_value)] = dead_raw
    letter = DeadLetter.model_validate_json(dead_value)
    assert letter.source == sources.content_topic
    assert "event: must be one of" in letter.reason
    assert base64.b64decode(letter.value_b64) == bad_content
    assert dead_key == "k"


def test_signed_linkedin_webhook_lands_on_the_events_topic(kafka_settings: KafkaSettings, topics: Topics) -> None:
    """The webhook edge with the app's own acks=all publisher: 200 only after the broker acknowledged."""
    client_secret = b"integration-li-secret"
    app = create_app(
        IngestConfig(
            IngestSettings(write_keys=["wk-sources"]),
            IdentitySettings(person_key_secret=SecretStr("sources-integration-secret")),
            RuntimeSettings(env="dev"),
            kafka_settings,
            linkedin=LinkedInSettings(client_secret=SecretStr(client_secret.decode())),
        ),
    )
    raw = json.dumps(SOCIAL).encode()
    signature = hmac.new(client_secret, b"hmacsha256=" + raw, hashlib.sha256).hexdigest()
    with TestClient(app) as client:
        assert (
            client.post("/v1/linkedin/social-actions", content=raw, headers={"X-LI-Signature": "0" * 64}).status_code
            == 401
        )
        response = client.post("/v1/linkedin/social-actions", content=raw, headers={"X-LI-Signature": signature})
        assert response.status_code == 200, response.text
    records = read_topic(kafka_settings, topics.events, expect=2, timeout=30, grace_s=0.5)
    events = sorted((EngagementEvent.model_validate_json(value) for _, value in records), key=lambda e: e.event_id)
    assert [e.event_id for e in events] == ["linkedin:social:51", "linkedin:social:52"]  # the 401 published nothing
    assert [e.properties["action"] for e in events] == ["comment", "like"]
