"""Normalisation of Segment calls into EngagementEvents: types, names, timestamps, identifiers, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from peerscore.consent import opted_out
from peerscore.events import EngagementEvent, PersonIdentifiers
from peerscore.identity import person_key
from peerscore.ingest.errors import InvalidEvent
from peerscore.ingest.normalise import event_type, generated_event_id, normalise_batch, normalise_call

SECRET = b"normalise-secret"
RECEIVED = datetime(2024, 5, 1, 12, 10, tzinfo=UTC)


def norm(call: dict[str, Any], **kwargs: Any) -> EngagementEvent:
    return normalise_call(call, secret=SECRET, received_at=RECEIVED, **kwargs)


def errors_of(exc: pytest.ExceptionInfo[InvalidEvent]) -> dict[str, str]:
    return {e.path: e.message for e in exc.value.errors}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Demo Requested", "demo.requested"),
        ("Case Study Viewed", "case_study.viewed"),
        ("Review Site Visited", "review_site.visited"),
        ("Content Downloaded", "content.downloaded"),
        ("Webinar Attended", "webinar.attended"),
        ("Email Link Clicked", "email_link.clicked"),
        ("Foo", "track.foo"),
        ("  pricing-page: viewed!! ", "pricing_page.viewed"),
    ],
)
def test_event_names_map_to_dotted_types(name: str, expected: str) -> None:
    assert event_type(name) == expected


def test_event_name_without_words_has_no_type() -> None:
    assert event_type("--- !!") is None


def test_track_keeps_original_name_properties_and_ids() -> None:
    event = norm(
        {
            "type": "track",
            "event": "Case Study Viewed",
            "userId": "u-1",
            "anonymousId": "a-1",
            "messageId": "m-1",
            "properties": {"slug": "acme", "email": "Jane@Acme.com"},
            "timestamp": "2024-05-01T12:00:00Z",
        }
    )
    assert (event.type, event.name, event.event_id, event.source) == (
        "case_study.viewed",
        "Case Study Viewed",
        "m-1",
        "segment",
    )
    assert event.properties["slug"] == "acme"
    assert event.person == PersonIdentifiers(email="jane@acme.com", user_id="u-1", anonymous_id="a-1")
    assert event.person_key == person_key(event.person, SECRET)
    assert event.account.domain == "acme.com"


def test_page_call_becomes_page_viewed_with_page_fields() -> None:
    event = norm(
        {
            "type": "page",
            "anonymousId": "a-1",
            "name": "Pricing",
            "category": "Marketing",
            "properties": {"path": "/pricing", "title": "Pricing | Acme"},
            "context": {"page": {"url": "https://acme.example/pricing", "referrer": "https://g.co", "path": "/x"}},
        }
    )
    assert event.type == "page.viewed"
    assert event.name == "Pricing"
    assert event.properties == {
        "path": "/pricing",  # the call's own properties win over context.page
        "title": "Pricing | Acme",
        "url": "https://acme.example/pricing",
        "referrer": "https://g.co",
        "name": "Pricing",
        "category": "Marketing",
    }


def test_screen_identify_group_and_alias_types() -> None:
    screen = norm({"type": "screen", "userId": "u", "name": "Home"})
    identify = norm({"type": "identify", "userId": "u", "traits": {"email": "a@b.io"}})
    group = norm({"type": "group", "userId": "u", "groupId": "g-9", "traits": {"name": "Acme", "employees": 40}})
    alias = norm({"type": "alias", "userId": "u", "previousId": "anon-1"})
    assert (screen.type, screen.properties["name"]) == ("screen.viewed", "Home")
    assert (identify.type, identify.person.email) == ("identify", "a@b.io")
    assert (group.type, group.properties, group.account.name, group.account.employees) == (
        "group",
        {"group_id": "g-9"},
        "Acme",
        40,
    )
    assert (alias.type, alias.properties) == ("alias", {"previous_id": "anon-1"})


def test_identify_traits_fill_person_traits_and_account() -> None:
    event = norm(
        {
            "type": "identify",
            "userId": "u-2",
            "context": {"traits": {"title": "Ignored when the call says otherwise", "seniority": "VP"}},
            "traits": {
                "email": "jo@gmail.com",
                "firstName": "Jo",
                "last_name": "Bloggs",
                "title": "CTO",
                "department": "Engineering",
                "address": {"country": "DE"},
                "company": {"name": "Acme", "website": "https://www.Acme.io/about", "employee_count": "120"},
            },
        }
    )
    assert event.traits.model_dump() == {
        "first_name": "Jo",
        "last_name": "Bloggs",
        "title": "CTO",
        "seniority": "VP",
        "function": "Engineering",
        "country": "DE",
    }
    assert (event.account.name, event.account.domain, event.account.employees) == ("Acme", "acme.io", 120)


def test_every_bad_call_of_a_batch_is_reported() -> None:
    body = {
        "batch": [
            {"type": "track", "event": "A B", "userId": "u", "sentAt": "soon"},
            {"type": "track", "event": "A B", "userId": "u"},
            {"type": "identify"},
            {"type": "fly", "userId": "u"},
            {"type": "track", "userId": "u"},
            "not an object",
            {"type": "group", "userId": "u"},
        ]
    }
    with pytest.raises(InvalidEvent) as exc:
        normalise_batch(body, secret=SECRET, received_at=RECEIVED)
    assert set(errors_of(exc)) == {
        "batch[0].sentAt",
        "batch[2]",
        "batch[3].type",
        "batch[4].event",
        "batch[5]",
        "batch[6].groupId",
    }
    assert "userId or anonymousId" in errors_of(exc)["batch[2]"]


def test_errors_never_quote_the_offending_value() -> None:
    with pytest.raises(InvalidEvent) as exc:
        norm({"type": "track", "event": "A B", "userId": "u", "timestamp": "jane@acme.com"})
    assert "jane" not in str(exc.value)


def test_single_call_paths_have_no_prefix_and_type_must_match_endpoint() -> None:
    with pytest.raises(InvalidEvent) as exc:
        norm({"type": "page", "userId": "u"}, expected_type="track")
    assert list(errors_of(exc)) == ["type"]
    assert norm({"userId": "u", "event": "A B"}, expected_type="track").type == "a.b"


def test_non_object_fields_and_non_bool_consent_are_refused() -> None:
    with pytest.raises(InvalidEvent) as exc:
        norm({"type": "track", "event": "A B", "userId": "u", "properties": []})
    assert list(errors_of(exc)) == ["properties"]
    with pytest.raises(InvalidEvent) as exc:
        norm(
            {
                "type": "track",
                "event": "A B",
                "userId": "u",
                "context": {"consent": {"categoryPreferences": {"Advertising": "yes"}}},
            }
        )
    assert list(errors_of(exc)) == ["context.consent.categoryPreferences.Advertising"]
    with pytest.raises(InvalidEvent) as exc:
        norm({"type": "track", "event": "A B", "userId": {"id": 1}})
    assert list(errors_of(exc)) == ["userId"]


def test_consent_and_rudderstack_source() -> None:
    event = norm(
        {
            "type": "track",
            "event": "A B",
            "anonymousId": "a",
            "context": {
                "library": {"name": "rudder-analytics-python"},
                "consent": {"categoryPreferences": {"Advertising": False, "Analytics": True}},
            },
        }
    )
    assert event.source == "rudderstack"
    assert event.consent == {"Advertising": False, "Analytics": True}


def test_numeric_user_id_is_a_string_id() -> None:
    assert norm({"type": "track", "event": "A B", "userId": 42}).person.user_id == "42"


def test_person_key_is_stable_across_calls_and_secret_dependent() -> None:
    a = norm({"type": "track", "event": "A B", "userId": "u-7"})
    b = norm({"type": "page", "userId": "u-7", "traits": {"email": "x@y.z"}})
    other = normalise_call({"type": "track", "event": "A B", "userId": "u-7"}, secret=b"x", received_at=RECEIVED)
    assert a.person_key == b.person_key != other.person_key
    assert "@" not in a.person_key and "u-7" not in a.person_key


def test_message_id_is_the_event_id_and_a_missing_one_gets_a_fresh_id() -> None:
    call = {"type": "track", "event": "A B", "userId": "u", "timestamp": "2024-05-01T12:00:00Z"}
    assert norm({**call, "messageId": "m-42"}).event_id == "m-42"
    first, second = norm(call).event_id, norm(call).event_id
    assert first.startswith("api-") and second.startswith("api-") and first != second  # as Segment's HTTP API
    assert norm(call, new_id=lambda: "fixed").event_id == "fixed"


def test_generated_event_id_is_deterministic_ignores_sent_at_and_depends_on_namespace() -> None:
    call = {"type": "track", "event": "A B", "userId": "u", "timestamp": "2024-05-01T12:00:00Z"}
    first = generated_event_id({**call, "sentAt": "2024-05-01T12:00:01Z", "writeKey": "k"}, "csv")
    retry = generated_event_id({**call, "sentAt": "2024-05-01T12:00:09Z"}, "csv")
    assert first == retry
    assert first.startswith("sha256:")
    assert generated_event_id(call, "other") != first
    assert generated_event_id({**call, "event": "A C"}, "csv") != first


def test_bound_source_name_is_recorded_instead_of_the_sdk_family() -> None:
    call = {"type": "track", "event": "A B", "userId": "u", "context": {"library": {"name": "rudder-x"}}}
    assert norm(call).source == "rudderstack"
    assert norm(call, source="website").source == "website"
    body = {"batch": [call, {**call, "type": "page"}]}
    events = normalise_batch(body, secret=SECRET, received_at=RECEIVED, source="partner-feed")
    assert [e.source for e in events] == ["partner-feed", "partner-feed"]


def test_group_call_carries_the_account_as_hints() -> None:
    event = norm(
        {
            "type": "group",
            "userId": "u",
            "groupId": "acct-77",
            "traits": {
                "name": "Initech",
                "domain": "https://www.initech.example",
                "employees": "420",
                "industry": "Technology",
            },
        }
    )
    assert event.properties == {"group_id": "acct-77"}
    assert event.account.model_dump(exclude_none=True) == {
        "domain": "initech.example",
        "name": "Initech",
        "employees": 420,
        "industry": "Technology",
    }


def test_email_identifies_only_when_the_caller_allows_it() -> None:
    call = {"type": "identify", "traits": {"email": "Ana@Acme.example"}}
    with pytest.raises(InvalidEvent) as exc:
        norm(call)
    assert "userId or anonymousId" in errors_of(exc)["$"]
    event = norm(call, email_identifies=True)
    assert event.person.email == "ana@acme.example"
    assert event.person_key == person_key(PersonIdentifiers(email="ana@acme.example"), SECRET)


def test_too_long_event_names_are_refused() -> None:
    with pytest.raises(InvalidEvent) as exc:
        norm({"type": "track", "event": "x" * 300, "userId": "u"})
    assert list(errors_of(exc)) == ["event"]


@pytest.mark.parametrize(
    ("traits", "expected"),
    [
        ({"unsubscribed": True}, True),
        ({"Opt-Out": "yes"}, True),
        ({"consent": False}, True),
        ({"consent": True}, False),
    ],
)
def test_consent_said_as_traits_reaches_the_event(traits: dict[str, Any], expected: bool) -> None:
    event = norm({"type": "identify", "userId": "u-1", "traits": {"email": "a@acme.com", **traits}})
    assert opted_out(event.consent) is expected


def test_consent_from_context_and_traits_are_both_kept() -> None:
    call = {
        "type": "identify",
        "userId": "u-1",
        "traits": {"unsubscribed": True},
        "context": {"consent": {"categoryPreferences": {"marketing": True}}},
    }
    consent = norm(call).consent
    assert consent["unsubscribed"] is True and consent["marketing"] is True
    assert opted_out(consent) is True
