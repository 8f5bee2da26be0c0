"""Every string ingest accepts fits the column it lands in (peerscore.limits): keys that do not fit are refused
with the field path, free text is cut with an ellipsis. PostgreSQL enforces these lengths (and refuses NUL),
SQLite does not, so before these checks a public write key could stall a scoring worker on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from peerscore import limits
from peerscore.events import EngagementEvent, LeadContact, parse_event
from peerscore.ingest.csv_rows import normalise_rows
from peerscore.ingest.errors import InvalidEvent
from peerscore.ingest.linkedin.leads import pushed_lead_events
from peerscore.ingest.normalise import normalise_call
from peerscore.ingest.sources.content import content_event
from tests.unit.ingest.support import RecordingPublisher, TestClient, basic

SECRET = b"limits-secret"
RECEIVED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LONG_DOMAIN = ("a" * 60 + ".") * 5 + "com"  # 308 characters, a hostname urlsplit reads


def identify(traits: dict[str, Any], **call: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": "u-1", "messageId": "m-1", "traits": traits, **call}


def refused(call: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidEvent) as caught:
        normalise_call(call, secret=SECRET, received_at=RECEIVED, path="batch[0]")
    return [(e.path, e.message) for e in caught.value.errors]


def test_a_company_domain_longer_than_an_account_key_is_refused_with_its_path() -> None:
    errors = refused(identify({"email": "jo@acme.io", "company": {"name": "Acme", "domain": LONG_DOMAIN}}))
    assert errors == [("batch[0]", "account.domain: must be at most 255 characters")]
    errors = refused({"type": "group", "userId": "u-1", "groupId": "g", "traits": {"website": LONG_DOMAIN}})
    assert errors == [("batch[0]", "account.domain: must be at most 255 characters")]


def test_a_group_id_that_would_not_fit_the_account_key_is_refused() -> None:
    at_limit = {"type": "group", "userId": "u-1", "groupId": "g" * limits.GROUP_ID}
    event = normalise_call(at_limit, secret=SECRET, received_at=RECEIVED)
    assert len(limits.GROUP_PREFIX + event.properties["group_id"]) == limits.ACCOUNT_KEY
    errors = refused({**at_limit, "groupId": "g" * (limits.GROUP_ID + 1)})
    assert errors == [("batch[0].groupId", f"must be at most {limits.GROUP_ID} characters")]


def test_an_email_longer_than_a_mailbox_is_refused_at_the_field_it_came_from() -> None:
    email = "x" * 320 + "@acme.io"
    assert refused(identify({"email": email})) == [
        ("batch[0].traits.email", "must be an email address of at most 320 characters")
    ]
    track = {"type": "track", "event": "Demo Requested", "userId": "u", "properties": {"email": email}}
    assert refused(track)[0][0] == "batch[0].properties.email"


@pytest.mark.parametrize("field", ["userId", "messageId", "groupId"])
def test_nul_characters_in_keys_are_refused(field: str) -> None:
    call = {"type": "group", "userId": "u-1", "groupId": "g-1", field: "a\x00b"}
    assert refused(call) == [(f"batch[0].{field}", "must not contain NUL characters")]


def test_nul_characters_in_stored_text_are_refused_with_the_event_field() -> None:
    errors = refused(identify({"title": "CTO\x00", "email": "jo@acme.io"}))
    assert errors == [("batch[0]", "traits.title: must not contain NUL characters")]


def test_free_text_is_cut_to_its_column_with_an_ellipsis() -> None:
    event = normalise_call(
        identify(
            {
                "title": "Head of " + "Platform " * 40,
                "firstName": "J" * 400,
                "country": "C" * 100,
                "company": {"name": "Acme " * 80, "industry": "I" * 300},
            }
        ),
        secret=SECRET,
        received_at=RECEIVED,
    )
    assert event.traits.title is not None and len(event.traits.title) <= limits.TITLE
    assert event.traits.title.startswith("Head of Platform") and event.traits.title.endswith("…")
    assert event.traits.first_name == "J" * (limits.PERSON_NAME - 1) + "…"
    assert event.traits.country == "C" * (limits.COUNTRY - 1) + "…"
    assert event.account.name is not None and len(event.account.name) <= limits.COMPANY
    assert event.account.industry == "I" * (limits.TRAIT - 1) + "…"
    exact = normalise_call(identify({"title": "T" * limits.TITLE}), secret=SECRET, received_at=RECEIVED)
    assert exact.traits.title == "T" * limits.TITLE, "a value at the limit is kept whole"


def test_the_segment_api_answers_400_with_the_path(client: TestClient, publisher: RecordingPublisher) -> None:
    body = {"batch": [identify({"email": "a@acme.io"}), identify({"company": {"domain": LONG_DOMAIN}})]}
    response = client.post("/v1/batch", json=body, headers=basic("wk-test-primary"))
    assert response.status_code == 400
    assert response.json()["detail"] == [
        {"path": "batch[1]", "message": "account.domain: must be at most 255 characters"}
    ]
    assert publisher.records == []


def test_csv_rows_linkedin_leads_and_source_topics_refuse_the_same_values() -> None:
    lines = ["email,domain\n", f"jo@x.io,{LONG_DOMAIN}\n"]
    [row] = normalise_rows(lines, secret=SECRET, received_at=RECEIVED, source="csv", max_event_bytes=32_000)
    assert row.event is None and "account.domain: must be at most 255 characters" in str(row.errors)
    with pytest.raises(InvalidEvent) as caught:
        content_event({"event": "webinar.attended", "email": "x" * 330 + "@a.io"}, secret=SECRET, received_at=RECEIVED)
    assert caught.value.errors[0].path == "email"
    lead = {
        "id": "abc",
        "leadType": "COMPANY",
        "submittedAt": 1714564800000,
        "form": {"content": {"questions": [{"questionId": 1, "predefinedField": "EMAIL"}]}},
        "formResponse": {
            "answers": [{"questionId": 1, "answerDetails": {"textQuestionAnswer": {"answer": "y" * 330 + "@a.io"}}}]
        },
    }
    with pytest.raises(InvalidEvent) as caught:
        pushed_lead_events(lead, secret=SECRET, received_at=RECEIVED)
    assert "email: must be at most 320 characters" in str(caught.value)


def test_the_contracts_refuse_what_the_tables_cannot_hold_so_workers_dead_letter_it_at_decode() -> None:
    event = normalise_call(identify({"email": "jo@acme.io"}), secret=SECRET, received_at=RECEIVED)
    raw = event.model_dump(mode="json")
    with pytest.raises(ValidationError):
        EngagementEvent.model_validate({**raw, "account": {"domain": "d" * 256}})
    with pytest.raises(ValidationError):
        EngagementEvent.model_validate({**raw, "person": {"email": "a\x00@b.io"}})
    with pytest.raises(ValidationError):
        LeadContact(domain="d" * 256)


def test_free_text_written_before_the_limits_is_cut_when_read_so_old_records_still_apply() -> None:
    event = normalise_call(identify({"email": "jo@acme.io"}), secret=SECRET, received_at=RECEIVED)
    legacy = {**event.model_dump(mode="json"), "traits": {"title": "t" * 300}, "account": {"name": "n" * 300}}
    decoded = parse_event(orjson.dumps(legacy))  # what a worker decodes off the topic or the history table
    assert decoded.traits.title == "t" * (limits.TITLE - 1) + "…"
    assert decoded.account.name == "n" * (limits.COMPANY - 1) + "…"
    with pytest.raises(ValidationError):  # keys are never cut
        parse_event(orjson.dumps({**legacy, "account": {"domain": "d" * 300}}))
