"""Outcome notifications from CRMs, parsed into one shape: who (email or CRM id), what happened, and why.

Pure: signature checks and the person-key hash happen at the HTTP edge; this module only reads payloads, so
every CRM's vocabulary (HubSpot lead status and lifecycle stage, Salesforce Lead status / conversion and
Opportunity stage) is mapped in one testable place.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - only for the types; parsing goes through defusedxml
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from peerscore.events import Outcome, OutcomeKind
from peerscore.identity import outcome_person_key


class BadOutcomePayload(ValueError):
    """The notification cannot be read; the sender gets 400 with this message."""


@dataclass(frozen=True)
class RawOutcome:
    event_id: str
    kind: OutcomeKind
    occurred_at: datetime
    email: str | None = None
    crm_object_id: str | None = None
    reason: str | None = None
    person_object_id: str | None = None
    """The CRM id of the person's own record (HubSpot contact, Salesforce Lead/Contact) when it differs from
    ``crm_object_id`` (a deal, an opportunity): resolved through crm-sync's id table before the email."""


HUBSPOT_LIFECYCLE: Mapping[str, OutcomeKind] = {
    "salesqualifiedlead": "accepted",
    "opportunity": "opportunity_created",
    "customer": "won",
}
HUBSPOT_LEAD_STATUS: Mapping[str, OutcomeKind] = {
    "open": "accepted",
    "in_progress": "accepted",
    "connected": "accepted",
    "unqualified": "rejected",
    "bad_timing": "rejected",
}
HUBSPOT_REASON_PROPERTY = "peerscore_rejection_reason"
"""Setting this contact property in HubSpot rejects the lead with its value as the reason."""


def hubspot_outcomes(events: Any) -> list[RawOutcome]:
    """HubSpot webhook v3 ``contact.propertyChange`` events (a JSON array); other events are ignored."""
    if not isinstance(events, list):
        raise BadOutcomePayload("HubSpot sends a JSON array of events")
    out: list[RawOutcome] = []
    for e in events:
        if not isinstance(e, dict) or e.get("subscriptionType") != "contact.propertyChange":
            continue
        prop, value = str(e.get("propertyName", "")), str(e.get("propertyValue", ""))
        kind: OutcomeKind | None = None
        reason = None
        if prop == "lifecyclestage":
            kind = HUBSPOT_LIFECYCLE.get(value.lower())
        elif prop == "hs_lead_status":
            kind = HUBSPOT_LEAD_STATUS.get(value.lower())
            reason = value if kind == "rejected" else None
        elif prop == HUBSPOT_REASON_PROPERTY and value:
            kind, reason = "rejected", value
        if kind is None:
            continue
        out.append(
            RawOutcome(str(e.get("eventId")), kind, _occurred(e), crm_object_id=str(e.get("objectId")), reason=reason)
        )
    return out


@dataclass(frozen=True)
class DealStages:
    """Deal stage ids that mean won or lost. Portals customise pipelines (each stage has its own id), so these are
    configuration; HubSpot's default pipeline uses ``closedwon`` and ``closedlost``."""

    won: frozenset[str] = frozenset({"closedwon"})
    lost: frozenset[str] = frozenset({"closedlost"})


def hubspot_deal_outcomes(events: Any, stages: DealStages) -> list[RawOutcome]:
    """HubSpot webhook v3 ``deal.creation`` (opportunity created) and ``deal.propertyChange`` of ``dealstage`` into a
    won or lost stage, one per event with the deal id as ``crm_object_id``; the caller finds the deal's contacts.
    Other stages and events are ignored (HubSpot still gets 200: there is nothing to retry)."""
    if not isinstance(events, list):
        raise BadOutcomePayload("HubSpot sends a JSON array of events")
    out: list[RawOutcome] = []
    for e in events:
        if not isinstance(e, dict):
            continue
        kind: OutcomeKind | None = None
        subscription = e.get("subscriptionType")
        if subscription == "deal.creation":
            kind = "opportunity_created"
        elif subscription == "deal.propertyChange" and e.get("propertyName") == "dealstage":
            stage = str(e.get("propertyValue", ""))
            kind = "won" if stage in stages.won else "lost" if stage in stages.lost else None
        if kind is None:
            continue
        out.append(RawOutcome(str(e.get("eventId")), kind, _occurred(e), crm_object_id=str(e.get("objectId"))))
    return out


def _occurred(event: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(event.get("occurredAt", 0)) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError) as exc:
        raise BadOutcomePayload(f"occurredAt: {exc}") from exc


_SF_OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"
_SF_REJECTED = ("closed - not converted", "unqualified", "disqualified", "rejected")
_SF_ACCEPTED = ("working - contacted", "working", "qualified", "sales accepted", "accepted")


_XML_DECLARED_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


def _require_utf8(body: bytes) -> None:
    declared = _XML_DECLARED_ENCODING.match(body.removeprefix(b"\xef\xbb\xbf"))
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = False
    else:  # UTF-16 of ASCII text without a BOM is valid UTF-8 full of NULs, which XML never contains
        utf8 = b"\x00" not in body and (declared is None or declared.group(1).lower() in (b"utf-8", b"utf8"))
    if not utf8:
        raise BadOutcomePayload("only UTF-8 XML is accepted (Salesforce outbound messages are UTF-8)")


def parse_xml_safely(body: bytes) -> ET.Element:
    """Refuse DTDs, entity declarations (billion laughs) and external references (XXE).

    The refusal happens inside expat, after it decoded the document: a byte search for ``<!DOCTYPE`` missed the
    same declaration written in UTF-16, which expat reads just as well. Salesforce sends UTF-8, so anything else
    (UTF-16/32 with or without a BOM, another declared encoding) is refused before expat guesses at it.
    """
    _require_utf8(body)
    try:
        root: ET.Element = defused_fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        return root
    except DefusedXmlException as exc:
        raise BadOutcomePayload("DTDs and entities are not accepted") from exc
    except (ET.ParseError, ValueError) as exc:  # expat: "multi-byte encodings are not supported"
        raise BadOutcomePayload(f"not XML: {exc}") from exc


def salesforce_outcomes(body: bytes) -> tuple[str, list[RawOutcome]]:
    """A Salesforce outbound message (SOAP): the organisation id, and one outcome per Lead/Opportunity notification
    that means one. An Opportunity must carry the buyer's email (``Email`` or ``Peerscore_Email__c``)."""
    root = parse_xml_safely(body)
    notifications = root.find(f".//{_SF_OUTBOUND}notifications")
    if notifications is None:
        raise BadOutcomePayload("no outbound notifications element")
    org = (notifications.findtext(f"{_SF_OUTBOUND}OrganizationId") or "").strip()
    now = datetime.now(UTC)
    out: list[RawOutcome] = []
    for n in notifications.findall(f"{_SF_OUTBOUND}Notification"):
        sobject = n.find(f"{_SF_OUTBOUND}sObject")
        if sobject is None:
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in sobject}
        sf_type = next((v for k, v in sobject.attrib.items() if k.endswith("type")), "").rsplit(":", 1)[-1]
        kind, reason = _salesforce_kind(sf_type, fields)
        if kind is None:
            continue
        email = fields.get("Email") or fields.get("Peerscore_Email__c") or None
        notification_id = (n.findtext(f"{_SF_OUTBOUND}Id") or "").strip() or fields.get("Id", "")
        person_id = fields.get("ContactId") if sf_type == "Opportunity" else fields.get("Id")
        out.append(
            RawOutcome(
                notification_id,
                kind,
                now,
                email=email,
                crm_object_id=fields.get("Id"),
                reason=reason,
                person_object_id=person_id or None,
            )
        )
    return org, out


def _salesforce_kind(sf_type: str, fields: Mapping[str, str]) -> tuple[OutcomeKind | None, str | None]:
    if sf_type == "Opportunity":
        stage = fields.get("StageName", "").lower()
        if stage == "closed won":
            return "won", None
        if stage == "closed lost":
            return "lost", fields.get("Loss_Reason__c") or None
        return "opportunity_created", None
    if sf_type == "Lead":
        if fields.get("IsConverted", "").lower() == "true":
            return "opportunity_created", None
        status = fields.get("Status", "").lower()
        if status in _SF_REJECTED:
            return "rejected", fields.get("Peerscore_Rejection_Reason__c") or fields.get("Status")
        if status in _SF_ACCEPTED:
            return "accepted", None
    return None, None


def generic_outcomes(data: Any, now: datetime) -> list[RawOutcome]:
    """``{"event_id", "email", "kind", "reason"?, "occurred_at"?}`` or ``{"outcomes": [...]}`` from any system."""
    items = data.get("outcomes", [data]) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise BadOutcomePayload("expected an outcome object or {'outcomes': [...]}")
    out = []
    for i, item in enumerate(items):
        try:
            kind = item["kind"]
            if kind not in ("accepted", "rejected", "opportunity_created", "won", "lost"):
                raise BadOutcomePayload(f"outcomes[{i}].kind: unknown kind {kind!r}")
            occurred = datetime.fromisoformat(item["occurred_at"]) if item.get("occurred_at") else now
            if occurred.tzinfo is None:
                raise BadOutcomePayload(f"outcomes[{i}].occurred_at: needs a timezone")
            out.append(
                RawOutcome(str(item["event_id"]), kind, occurred, email=str(item["email"]), reason=item.get("reason"))
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, BadOutcomePayload):
                raise
            raise BadOutcomePayload(f"outcomes[{i}]: {type(exc).__name__}: {exc}") from exc
    return out


def person_object(r: RawOutcome) -> str | None:
    """The CRM record that names the buyer: the contact behind a deal, else the object the outcome is about."""
    return r.person_object_id or r.crm_object_id or None


def keyed_outcomes(
    source: str,
    raw: Sequence[RawOutcome],
    secret: bytes,
    received_at: datetime,
    known: Mapping[str, str] | None = None,
) -> tuple[list[Outcome], list[RawOutcome]]:
    """The outcomes to publish and those naming nobody Peerscore can key.

    Each is keyed by the person crm-sync synced to the CRM record it names (``known``: CRM object id → person key),
    else by its email (:func:`outcome_person_key`). ``event_id`` is prefixed with the source so two CRMs' ids
    never collide. Scoring attaches each outcome to the person the key was merged into.
    """
    keyed: list[Outcome] = []
    unkeyed: list[RawOutcome] = []
    for r in raw:
        obj = person_object(r)
        key = (known or {}).get(obj or "") or outcome_person_key(r.email, secret)
        if key is None:
            unkeyed.append(r)
            continue
        keyed.append(
            Outcome.model_validate(
                {
                    "event_id": f"{source}:{r.event_id}",
                    "person_key": key,
                    "kind": r.kind,
                    "reason": r.reason,
                    "source": source,
                    "crm_object_id": r.crm_object_id,
                    "occurred_at": r.occurred_at,
                    "received_at": received_at,
                }
            )
        )
    return keyed, unkeyed
