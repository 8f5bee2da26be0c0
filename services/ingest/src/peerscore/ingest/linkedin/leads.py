"""LinkedIn Lead Sync notifications and lead data → :class:`EngagementEvent`. Pure: no HTTP, no Kafka.

Event types:

* ``linkedin.lead_form.submitted`` (``leadAction: CREATED``): who the member is (predefined answers mapped to
  person and account attributes), the form's custom answers, campaign metadata and consent responses.
* ``linkedin.lead_form.deleted`` (``leadAction: DELETED``): the member deleted their response. It carries no
  answers; scoring erases the person it is keyed by (as ``DELETE /v1/people/{email}`` does) and crm-sync follows.

LinkedIn delivers notifications more than once, so ``event_id`` is derived from the response URN and the action
only: every delivery of one notification (webhook, retry, or the same lead pushed on Kafka) has the same id and is
deduplicated downstream.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from peerscore.consent import OPTED_OUT
from peerscore.events import LEAD_FORM_DELETED, EngagementEvent, PersonIdentifiers
from peerscore.identity import normalise_email, person_key
from peerscore.ingest.errors import InvalidEvent, breaks_contract, join_path
from peerscore.ingest.fields import choice, epoch_ms, flat_urns, identifier, urn
from peerscore.ingest.linkedin.answers import LeadData, employee_floor, parse_form, parse_lead_data
from peerscore.ingest.traits import person_account, person_traits

SOURCE = "linkedin"
LEAD_ACTION = "LEAD_ACTION"
LEAD_TYPES = ("SPONSORED", "EVENT", "COMPANY", "ORGANIZATION_PRODUCT")
LEAD_ACTIONS = ("CREATED", "DELETED")
SUBMITTED = "linkedin.lead_form.submitted"
DELETED = LEAD_FORM_DELETED
RESPONSE_URN_PREFIX = "urn:li:leadGenFormResponse:"
CONSENT_PREFIX = "linkedin_consent:"


@dataclass(frozen=True)
class LeadNotification:
    """What a ``LEAD_ACTION`` notification says (it never holds the member's answers)."""

    response_urn: str
    action: str
    lead_type: str
    occurred_at: datetime
    form_urn: str | None = None
    owner: Mapping[str, str] = field(default_factory=dict)
    associated_entity: Mapping[str, str] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return lead_event_id(self.response_urn, self.action)


def lead_event_id(response_urn: str, action: str) -> str:
    return f"linkedin:lead:{action.lower()}:{response_urn}"


def lead_response_key(response_urn: str, secret: bytes) -> str:
    """Partition key of a deletion nobody can be identified for (the lead data is gone): keyed on the response
    so every delivery of it lands on one partition. Same shape as person keys (``p_`` + 32 hex)."""
    return "p_" + hmac.new(secret, ("lilead:" + response_urn).encode(), hashlib.sha256).hexdigest()[:32]


def parse_notification(body: Any, path: str = "") -> LeadNotification:
    if not isinstance(body, Mapping):
        raise InvalidEvent.at(path or "$", "must be an object")
    choice(body, "type", path, (LEAD_ACTION,))
    response_urn = urn(body, "leadGenFormResponse", path, required=True)
    assert response_urn is not None
    return LeadNotification(
        response_urn=response_urn,
        action=choice(body, "leadAction", path, LEAD_ACTIONS),
        lead_type=choice(body, "leadType", path, LEAD_TYPES),
        occurred_at=_required(epoch_ms(body, "occurredAt", path, required=True)),
        form_urn=urn(body, "leadGenForm", path),
        owner=flat_urns(body.get("owner"), join_path(path, "owner")),
        associated_entity=flat_urns(body.get("associatedEntity"), join_path(path, "associatedEntity")),
    )


def _required(value: datetime | None) -> datetime:
    assert value is not None  # the reader raised for a missing required field
    return value


def notification_of_response(response: Mapping[str, Any], path: str = "") -> LeadNotification:
    """The notification a full lead response stands for, when it is pushed ready-made on Kafka."""
    response_urn = urn(response, "leadGenFormResponse", path)
    if response_urn is None:
        raw_id = identifier(response, "id", path, required=True)
        assert raw_id is not None
        response_urn = raw_id if raw_id.startswith("urn:li:") else RESPONSE_URN_PREFIX + raw_id
    action = choice(response, "leadAction", path, LEAD_ACTIONS, default="CREATED")
    occurred = epoch_ms(response, "submittedAt", path) or epoch_ms(response, "occurredAt", path)
    if occurred is None:
        raise InvalidEvent.at(join_path(path, "submittedAt"), "is required (or occurredAt)")
    return LeadNotification(
        response_urn=response_urn,
        action=action,
        lead_type=choice(response, "leadType", path, LEAD_TYPES),
        occurred_at=occurred,
        form_urn=urn(response, "versionedLeadGenFormUrn", path) or urn(response, "leadGenForm", path),
        owner=flat_urns(response.get("owner"), join_path(path, "owner")),
        associated_entity=flat_urns(response.get("associatedEntity"), join_path(path, "associatedEntity")),
    )


def _consent(data: LeadData) -> dict[str, bool]:
    """Each response as ``linkedin_consent:<id>``, plus the canonical ``opted_out`` (True when any consent box
    was declined) that :mod:`peerscore.consent` reads for "not scored, not synced"."""
    if not data.consents:
        return {}
    result = {CONSENT_PREFIX + consent_id: accepted for consent_id, accepted in data.consents.items()}
    result[OPTED_OUT] = not all(data.consents.values())
    return result


def lead_event(
    notification: LeadNotification,
    data: LeadData | None,
    *,
    secret: bytes,
    received_at: datetime,
    path: str = "",
) -> EngagementEvent:
    """One notification (+ the lead's data when known) → one event, or :class:`InvalidEvent`.

    A submission needs the data and an email or the submitter's member URN (otherwise nobody can be scored);
    a deletion is published even without data, keyed by the response (see :func:`lead_response_key`).
    """
    data = data or LeadData()
    attributes = data.attributes
    email = attributes.get("email")
    email = normalise_email(email) if email and "@" in email else None
    try:
        ids = PersonIdentifiers(email=email, linkedin_member_urn=data.submitter)
    except ValidationError as exc:  # an email longer than any mailbox, a NUL: refused with the field's path
        raise breaks_contract(exc, join_path(path, "person")) from None
    key = person_key(ids, secret)
    deleted = notification.action == "DELETED"
    if key is None:
        if not deleted:
            raise InvalidEvent.at(
                path or "$", "lead data needs an email answer or a submitter member URN to identify the person"
            )
        key = lead_response_key(notification.response_urn, secret)
    properties: dict[str, Any] = {
        "lead_form_response": notification.response_urn,
        "lead_action": notification.action,
        "lead_type": notification.lead_type,
    }
    optional = {
        "lead_form": notification.form_urn,
        "owner": dict(notification.owner) or None,
        "associated_entity": dict(notification.associated_entity) or None,
        "campaign": data.campaign,
    }
    properties.update({k: v for k, v in optional.items() if v is not None})
    if not deleted:
        properties["test_lead"] = data.test_lead
        if data.custom_answers:
            properties["answers"] = dict(data.custom_answers)
        if "company_size" in attributes:
            properties["company_size"] = attributes["company_size"]
    company = {
        "name": attributes.get("company"),
        "employees": employee_floor(attributes.get("company_size")),
        "industry": attributes.get("industry"),
    }
    occurred = notification.occurred_at if deleted else (data.submitted_at or notification.occurred_at)
    try:
        return EngagementEvent(
            event_id=notification.event_id,
            type=DELETED if deleted else SUBMITTED,
            name="LinkedIn Lead Form " + ("Deleted" if deleted else "Submitted"),
            source=SOURCE,
            person_key=key,
            occurred_at=occurred,
            received_at=received_at,
            person=ids,
            traits=person_traits(attributes),
            account=person_account({"company": company}, email),
            properties=properties,
            consent=_consent(data),
        )
    except ValidationError as exc:
        raise breaks_contract(exc, path) from None


def pushed_lead_events(body: Any, *, secret: bytes, received_at: datetime) -> list[EngagementEvent]:
    """A record of the LinkedIn lead-form topic: a full ``leadFormResponses`` entity (optionally with its ``form``
    and a ``leadAction``), or a bare ``LEAD_ACTION`` notification, which only suffices for a deletion."""
    if not isinstance(body, Mapping):
        raise InvalidEvent.at("$", "must be an object")
    if body.get("type") == LEAD_ACTION:
        notification = parse_notification(body)
        if notification.action != "DELETED":
            raise InvalidEvent.at(
                "$", "a CREATED notification holds no lead data: push the full lead response (formResponse)"
            )
        return [lead_event(notification, None, secret=secret, received_at=received_at)]
    notification = notification_of_response(body)
    data = parse_lead_data(body, parse_form(body.get("form")))
    return [lead_event(notification, data, secret=secret, received_at=received_at)]
