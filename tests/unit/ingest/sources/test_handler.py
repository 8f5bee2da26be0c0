"""The Kafka source-topic handler without a broker: decode (same parsers as HTTP) → events or InvalidMessage,
handle → one acknowledged publish, failures → RetryableError (the loop rewinds, nothing is committed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from peerscore.consumer import InvalidMessage, Message, RetryableError
from peerscore.events import EngagementEvent
from peerscore.ingest.settings import SourceTopicSettings
from peerscore.ingest.sources.consumers import source_normalisers
from peerscore.ingest.sources.handler import SourceHandler
from tests.unit.ingest.support import RecordingPublisher

SECRET = b"sources-secret"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SETTINGS = SourceTopicSettings(linkedin_leads_topic="leads", linkedin_social_topic="social", content_topic="content")


def handler(source: str, publisher: RecordingPublisher | None = None, max_bytes: int = 4096) -> SourceHandler:
    _, parser = source_normalisers(SETTINGS, SECRET)[source]
    return SourceHandler(
        normaliser=parser,
        publisher=publisher or RecordingPublisher(),
        events_topic="unit.events.v1",
        max_record_bytes=max_bytes,
        clock=lambda: NOW,
    )


def as_message(events: list[EngagementEvent], offset: int = 0) -> Message[list[EngagementEvent]]:
    return Message("content", 0, offset, None, events, 0)


WEBINAR = {"id": "w-1", "event": "Webinar Attended", "email": "kim@initech.io", "occurred_at": 1714564800000}


def test_content_record_decodes_with_the_shared_parser() -> None:
    [event] = handler("content").decode(None, json.dumps(WEBINAR).encode())
    assert (event.type, event.event_id, event.received_at) == ("webinar.attended", "content_feed:w-1", NOW)


def test_social_batch_record_decodes_to_every_engagement() -> None:
    record = {
        "type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS",
        "notifications": [
            {"notificationId": 1, "action": "LIKE", "actor": "urn:li:person:a", "sourcePost": "urn:li:share:1"},
            {"notificationId": 2, "action": "COMMENT_DELETE", "sourcePost": "urn:li:share:1"},
            {"notificationId": 3, "action": "SHARE", "actor": "urn:li:person:b", "sourcePost": "urn:li:ugcPost:2"},
        ],
    }
    events = handler("linkedin-social").decode(b"org-1", json.dumps(record).encode())
    assert [e.event_id for e in events] == ["linkedin:social:1", "linkedin:social:3"]
    single = handler("linkedin-social").decode(None, json.dumps(record["notifications"][0]).encode())
    assert [e.event_id for e in single] == ["linkedin:social:1"]


@pytest.mark.parametrize(
    ("source", "value", "reason"),
    [
        ("content", None, "empty record value"),
        ("content", b"", "empty record value"),
        ("content", b"\xff\xfe", "not valid JSON"),
        ("content", b"[1, 2", "not valid JSON"),
        ("content", b"[" * 40 + b"]" * 40, "nested deeper"),
        ("content", b'"just a string"', "$: must be an object"),
        ("content", json.dumps({**WEBINAR, "event": "Lunch Eaten"}).encode(), "event: must be one of"),
        ("content", json.dumps({**WEBINAR, "pad": "x" * 5000}).encode(), "larger than 4096 bytes"),
        ("linkedin-leads", json.dumps({"id": "x", "leadType": "SPONSORED"}).encode(), "submittedAt"),
        ("linkedin-social", json.dumps({"notificationId": 1, "action": "LIKE"}).encode(), "sourcePost"),
    ],
)
def test_bad_records_raise_invalid_message_with_a_reason(source: str, value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        handler(source).decode(None, value)
    assert reason in caught.value.reason
    assert "kim@initech.io" not in caught.value.reason  # reasons name fields, never values


def test_handle_publishes_every_event_keyed_by_person_and_waits_for_acks() -> None:
    publisher = RecordingPublisher()
    h = handler("content", publisher)
    first = h.decode(None, json.dumps(WEBINAR).encode())
    second = h.decode(None, json.dumps({**WEBINAR, "id": "w-2", "email": "lee@initech.io"}).encode())
    h.handle([as_message(first, 0), as_message([], 1), as_message(second, 2)])
    [(records, wait)] = publisher.calls
    assert wait is True
    assert [r.topic for r in records] == ["unit.events.v1"] * 2
    assert [r.key for r in records] == [first[0].person_key, second[0].person_key]
    h.handle([as_message([], 3)])
    assert len(publisher.calls) == 1  # nothing to publish: no empty publish call


def test_publish_failure_is_retryable() -> None:
    h = handler("content", RecordingPublisher(fail=TimeoutError("no ack")))
    events = h.decode(None, json.dumps(WEBINAR).encode())
    with pytest.raises(RetryableError):
        h.handle([as_message(events)])


def test_an_empty_topic_name_turns_that_source_off() -> None:
    settings = SETTINGS.model_copy(update={"linkedin_social_topic": " "})
    assert sorted(source_normalisers(settings, SECRET)) == ["content", "linkedin-leads"]
    assert source_normalisers(SETTINGS, SECRET)["linkedin-social"][0] == "social"
