"""The pure parsers behind the LinkedIn webhooks and the Kafka source topics: mappings, and the property that
any JSON becomes either valid events or an :class:`InvalidEvent` naming the field, never another exception."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peerscore.consent import opted_out as consent_opted_out
from peerscore.events import EngagementEvent
from peerscore.ingest.errors import InvalidEvent
from peerscore.ingest.linkedin.answers import employee_floor, parse_form, parse_lead_data
from peerscore.ingest.linkedin.leads import lead_event_id, parse_notification, pushed_lead_events
from peerscore.ingest.linkedin.social import social_action_events
from peerscore.ingest.sources.content import content_events

SECRET = b"parser-secret"
RECEIVED = datetime(2024, 5, 1, 12, 10, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=8,
)
emails = st.sampled_from(["Ada@Acme-Analytics.com", "bo@gmail.com", "x@y.io", "no-at-sign"])
urns = st.sampled_from(["urn:li:person:a1", "urn:li:organization:7", "urn:li:share:9", "nope", ""]) | st.text()
epochs = st.integers(min_value=-(2**63), max_value=2**63) | st.sampled_from([1714564800000, 0])


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | json_values


notifications = st.fixed_dictionaries(
    {},
    optional={
        "type": maybe(st.just("LEAD_ACTION")),
        "leadGenFormResponse": maybe(urns),
        "leadGenForm": maybe(urns),
        "owner": maybe(st.dictionaries(st.sampled_from(["sponsoredAccount", "organization"]), urns)),
        "associatedEntity": json_values,
        "leadType": maybe(st.sampled_from(["SPONSORED", "EVENT", "COMPANY", "ORGANIZATION_PRODUCT"])),
        "leadAction": maybe(st.sampled_from(["CREATED", "DELETED"])),
        "occurredAt": maybe(epochs),
    },
)
answers = st.fixed_dictionaries(
    {},
    optional={
        "questionId": maybe(st.integers(0, 20)),
        "predefinedField": maybe(st.sampled_from(["EMAIL", "JOB_TITLE", "COMPANY_SIZE", "OTHER"])),
        "answerDetails": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "textQuestionAnswer": maybe(st.fixed_dictionaries({"answer": maybe(emails)})),
                    "multipleChoiceAnswer": maybe(st.fixed_dictionaries({"options": maybe(st.lists(st.integers()))})),
                },
            )
        ),
    },
)
lead_responses = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.text(max_size=30)),
        "leadType": maybe(st.just("SPONSORED")),
        "leadAction": maybe(st.sampled_from(["CREATED", "DELETED"])),
        "submitter": maybe(urns),
        "submittedAt": maybe(epochs),
        "testLead": json_values,
        "leadMetadata": json_values,
        "formResponse": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "answers": maybe(st.lists(maybe(answers), max_size=4)),
                    "consentResponses": maybe(
                        st.lists(maybe(st.fixed_dictionaries({"consentId": json_values, "accepted": json_values})))
                    ),
                },
            )
        ),
        "form": json_values,
    },
)
social_notifications = st.fixed_dictionaries(
    {},
    optional={
        "notificationId": maybe(st.integers(0, 10**12)),
        "action": maybe(st.sampled_from(["LIKE", "COMMENT", "SHARE", "SHARE_MENTION", "ADMIN_COMMENT"])),
        "actor": maybe(urns),
        "sourcePost": maybe(urns),
        "lastModifiedAt": maybe(epochs),
        "decoratedGeneratedActivity": json_values,
    },
)
content_records = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "event": maybe(st.sampled_from(["Webinar Attended", "review_site.visited", "Email Clicked", "Sign Up"])),
        "email": maybe(emails),
        "user_id": json_values,
        "occurred_at": maybe(st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat) | epochs),
        "company": json_values,
        "person": json_values,
        "properties": json_values,
        "source": maybe(st.sampled_from(["g2", "on24", "Bad Source"])),
    },
)

PROPERTY = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
"""Enough examples to hit every branch of the near-valid shapes while keeping the suite fast; no example
database, so runs leave nothing behind in the working tree."""

PARSERS = {
    "notification": lambda body: [parse_notification(body)],
    "pushed_lead": lambda body: pushed_lead_events(body, secret=SECRET, received_at=RECEIVED),
    "social": lambda body: social_action_events(body, secret=SECRET, received_at=RECEIVED)[0],
    "content": lambda body: content_events(body, secret=SECRET, received_at=RECEIVED),
}


def outcome(parser: str, body: Any) -> list[Any] | InvalidEvent:
    try:
        return PARSERS[parser](body)
    except InvalidEvent as exc:
        assert exc.errors and all(e.path and e.message for e in exc.errors)
        return exc


@PROPERTY
@given(parser=st.sampled_from(sorted(PARSERS)), body=json_values)
def test_any_json_is_an_event_or_a_clear_error(parser: str, body: Any) -> None:
    outcome(parser, body)


@PROPERTY
@given(body=notifications)
def test_near_valid_notifications(body: dict[str, Any]) -> None:
    outcome("notification", body)


@PROPERTY
@given(body=lead_responses)
def test_near_valid_lead_responses_give_valid_events_or_errors(body: dict[str, Any]) -> None:
    result = outcome("pushed_lead", body)
    if not isinstance(result, InvalidEvent):
        [event] = result
        assert EngagementEvent.model_validate_json(event.model_dump_json()) == event
        assert "@" not in event.person_key


@PROPERTY
@given(body=st.fixed_dictionaries({"notifications": st.lists(maybe(social_notifications), max_size=4)}))
def test_near_valid_social_batches(body: dict[str, Any]) -> None:
    result = outcome("social", body)
    if not isinstance(result, InvalidEvent):
        assert all(e.type == "linkedin.post.engaged" for e in result)


@PROPERTY
@given(body=content_records)
def test_near_valid_content_records(body: dict[str, Any]) -> None:
    result = outcome("content", body)
    if not isinstance(result, InvalidEvent):
        [event] = result
        assert event.occurred_at.tzinfo is not None


def test_event_id_depends_only_on_response_and_action() -> None:
    base = {
        "type": "LEAD_ACTION",
        "leadGenFormResponse": "urn:li:leadGenFormResponse:1",
        "leadType": "EVENT",
        "leadAction": "CREATED",
        "occurredAt": 1714564800000,
    }
    first = parse_notification(base)
    redelivered = parse_notification({**base, "occurredAt": 1714564900000, "owner": {"organization": "urn:li:o:1"}})
    assert first.event_id == redelivered.event_id == lead_event_id("urn:li:leadGenFormResponse:1", "CREATED")
    assert parse_notification({**base, "leadAction": "DELETED"}).event_id != first.event_id


@pytest.mark.parametrize(
    ("text", "floor"),
    [("201-500", 201), ("10,001+", 10001), ("SIZE_51_TO_200", 51), ("1", 1), ("Myself only", None), (None, None)],
)
def test_company_size_ranges_give_their_lower_bound(text: str | None, floor: int | None) -> None:
    assert employee_floor(text) == floor


def test_predefined_field_on_the_answer_itself_needs_no_form() -> None:
    data = parse_lead_data(
        {
            "formResponse": {
                "answers": [
                    {
                        "questionId": 9,
                        "predefinedField": "WORK_EMAIL",
                        "answerDetails": {"textQuestionAnswer": {"answer": "x@y.io"}},
                    },
                    {"questionId": 10, "answerDetails": {"textQuestionAnswer": {"answer": "soon"}}},
                    {"questionId": 11, "answerDetails": {"fileUploadAnswer": {"file": "ignored"}}},
                ]
            }
        },
        parse_form(None),
    )
    assert data.attributes == {"email": "x@y.io"}
    assert data.custom_answers == {"question_10": "soon"}


def test_pushed_lead_response_becomes_a_submission() -> None:
    [event] = pushed_lead_events(
        {
            "id": "abc",
            "leadType": "COMPANY",
            "submittedAt": 1714564800000,
            "form": {"content": {"questions": [{"questionId": 1, "predefinedField": "EMAIL"}]}},
            "formResponse": {
                "answers": [{"questionId": 1, "answerDetails": {"textQuestionAnswer": {"answer": "Bo@Gmail.com"}}}],
                "consentResponses": [{"consentId": 1, "accepted": True}],
            },
        },
        secret=SECRET,
        received_at=RECEIVED,
    )
    assert event.event_id == "linkedin:lead:created:urn:li:leadGenFormResponse:abc"
    assert event.person.email == "bo@gmail.com"
    assert event.account.domain is None  # free mail never makes an account
    assert event.consent == {"linkedin_consent:1": True, "opted_out": False}
    assert consent_opted_out(event.consent) is False  # the shared reading scoring and crm-sync use


def test_pushed_created_notification_without_data_is_refused() -> None:
    with pytest.raises(InvalidEvent) as caught:
        pushed_lead_events(
            {
                "type": "LEAD_ACTION",
                "leadGenFormResponse": "urn:li:leadGenFormResponse:1",
                "leadType": "SPONSORED",
                "leadAction": "CREATED",
                "occurredAt": 1,
            },
            secret=SECRET,
            received_at=RECEIVED,
        )
    assert "formResponse" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "dotted"),
    [
        ("Webinar Attended", "webinar.attended"),
        ("webinar.registered", "webinar.registered"),
        ("Content Downloaded", "content.downloaded"),
        ("review_site.visited", "review_site.visited"),
        ("Email Clicked", "email_link.clicked"),
        ("Email Opened", "email.opened"),
    ],
)
def test_content_records_map_to_known_types(name: str, dotted: str) -> None:
    [event] = content_events(
        {"id": "r1", "event": name, "email": "Pat@Initech.io", "occurred_at": 1714564800000, "source": "g2"},
        secret=SECRET,
        received_at=RECEIVED,
    )
    assert (event.type, event.event_id, event.source) == (dotted, "g2:r1", "g2")
    assert event.account.domain == "initech.io"


def test_content_record_keeps_traits_company_and_properties() -> None:
    [event] = content_events(
        {
            "event": "review_site.visited",
            "userId": "u-9",
            "timestamp": "2024-05-01T09:00:00+02:00",
            "person": {"title": "Head of RevOps", "firstName": "Kim"},
            "company": {"name": "Initech", "domain": "https://www.initech.io", "employees": "250"},
            "properties": {"page_type": "comparison", "product": "Peerscore"},
        },
        secret=SECRET,
        received_at=RECEIVED,
    )
    assert event.occurred_at == datetime(2024, 5, 1, 7, 0, tzinfo=UTC)
    assert (event.traits.title, event.traits.first_name) == ("Head of RevOps", "Kim")
    assert (event.account.domain, event.account.employees) == ("initech.io", 250)
    assert event.properties == {"page_type": "comparison", "product": "Peerscore"}
    assert event.event_id.startswith("sha256:")  # no id given: a stable hash, so a replay dedups


@pytest.mark.parametrize(
    ("record", "path"),
    [
        ({"event": "Sign Up", "email": "a@b.co"}, "event"),
        ({"email": "a@b.co"}, "event"),
        ({"event": "Webinar Attended"}, "$"),
        ({"event": "Webinar Attended", "email": "not-an-email"}, "email"),
        ({"event": "Webinar Attended", "email": "a@b.co", "occurred_at": "2024-05-01T09:00:00"}, "occurred_at"),
        ({"event": "Webinar Attended", "email": "a@b.co", "source": "Bad Source"}, "source"),
    ],
)
def test_bad_content_records_name_the_field(record: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        content_events(record, secret=SECRET, received_at=RECEIVED)
    assert caught.value.errors[0].path == path
