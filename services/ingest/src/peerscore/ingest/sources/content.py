"""Content-engagement records from feeds (webinar platforms, content hubs, review-site intent exports such as
G2's, email tools) → :class:`EngagementEvent`. Pure.

One record is one thing a person did, in this JSON shape (camelCase spellings are accepted too)::

    {"id": "att-981", "event": "Webinar Attended", "occurred_at": "2024-05-01T12:00:00Z", "source": "on24",
     "email": "ada@acme.example", "person": {"title": "VP Marketing"}, "company": {"domain": "acme.example"},
     "properties": {"webinar": "Scoring 101", "minutes": 42}}

``event`` is a Segment-style name ("Content Downloaded") or a dotted type ("review_site.visited"), read by the
same function as Segment track calls; it must be one of :data:`CONTENT_TYPES`. ``occurred_at`` is ISO 8601 with
a zone or epoch milliseconds. A person identifier (email, user id, anonymous id or LinkedIn member URN) is
required: account-only intent (a company researching, nobody named) has no person to score yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from peerscore.events import EngagementEvent, PersonIdentifiers
from peerscore.identity import normalise_email, person_key
from peerscore.ingest.errors import InvalidEvent, breaks_contract
from peerscore.ingest.fields import bounded_email, identifier, instant, mapping, urn
from peerscore.ingest.normalise import event_type, generated_event_id
from peerscore.ingest.traits import person_account, person_traits, text

DEFAULT_SOURCE = "content_feed"
CONTENT_TYPES = frozenset(
    {
        "webinar.registered",
        "webinar.attended",
        "webinar.question_asked",
        "content.downloaded",
        "whitepaper.downloaded",
        "ebook.downloaded",
        "case_study.viewed",
        "review_site.visited",
        "email.opened",
        "email_link.clicked",
        "email.unsubscribed",
    }
)
ALIASES = {"email.clicked": "email_link.clicked", "review_site.visit": "review_site.visited"}
_DOTTED = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _first(record: Mapping[str, Any], *fields: str) -> Any:
    for field in fields:
        if record.get(field) is not None:
            return record[field]
    return None


def content_type(name: Any) -> str:
    """The dotted type of a record's ``event``; :class:`InvalidEvent` for unknown or unreadable ones."""
    raw = text(name)
    if raw is None:
        raise InvalidEvent.at("event", "is required: a name such as 'Webinar Attended' or a type")
    dotted = raw if _DOTTED.match(raw) else event_type(raw[:256])
    dotted = ALIASES.get(dotted or "", dotted)
    if dotted not in CONTENT_TYPES:
        raise InvalidEvent.at("event", "must be one of " + ", ".join(sorted(CONTENT_TYPES)))
    return dotted


def content_event(record: Any, *, secret: bytes, received_at: datetime) -> EngagementEvent:
    if not isinstance(record, Mapping):
        raise InvalidEvent.at("$", "must be an object")
    dotted = content_type(_first(record, "event", "type"))
    source = record.get("source", DEFAULT_SOURCE)
    if not isinstance(source, str) or not _SOURCE.match(source):
        raise InvalidEvent.at("source", "must be a lower-case name of at most 64 characters")
    person = {**mapping(record, "traits", ""), **mapping(record, "person", "")}
    raw_email = text(_first(record, "email")) or text(person.get("email"))
    if raw_email is not None and "@" not in raw_email:
        raise InvalidEvent.at("email", "must be an email address")
    email = bounded_email(normalise_email(raw_email), "email") if raw_email else None
    ids = PersonIdentifiers(
        email=email,
        user_id=identifier(record, "user_id", "") or identifier(record, "userId", ""),
        anonymous_id=identifier(record, "anonymous_id", "") or identifier(record, "anonymousId", ""),
        linkedin_member_urn=urn(record, "linkedin_member_urn", "") or urn(record, "linkedinMemberUrn", ""),
    )
    key = person_key(ids, secret)
    if key is None:
        raise InvalidEvent.at("$", "needs a person: email, user_id, anonymous_id or linkedin_member_urn")
    own_id = identifier(record, "id", "") or identifier(record, "event_id", "") or identifier(record, "messageId", "")
    company = record.get("company")
    if company is not None and not isinstance(company, Mapping | str):
        raise InvalidEvent.at("company", "must be an object or a name")
    try:
        return EngagementEvent(
            event_id=f"{source}:{own_id}" if own_id else generated_event_id(record),
            type=dotted,
            name=text(_first(record, "event", "type")),
            source=source,
            person_key=key,
            occurred_at=instant(record, ("occurred_at", "occurredAt", "timestamp"), "") or received_at,
            received_at=received_at,
            person=ids,
            traits=person_traits(person),
            account=person_account({"company": company, "website": record.get("website")}, email),
            properties=dict(mapping(record, "properties", "")),
        )
    except ValidationError as exc:
        raise breaks_contract(exc, "$") from None


def content_events(body: Any, *, secret: bytes, received_at: datetime) -> list[EngagementEvent]:
    return [content_event(body, secret=secret, received_at=received_at)]
