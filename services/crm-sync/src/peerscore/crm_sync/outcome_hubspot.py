"""HubSpot webhook events → outcomes that name a person: contact events by the contact's email, deal events once
per contact associated with the deal.

Kept apart from the HTTP edge so the fan-out and its idempotency key are one readable rule: a deal outcome's
``event_id`` is the webhook's ``eventId`` plus the contact id, so a redelivered notification (HubSpot retries
anything but 2xx) publishes the same event ids and consumers drop the copy. All lookups happen before anything is
published, so a failed lookup (:class:`LookupUnavailable`) leaves nothing half-published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import structlog

from peerscore.crm_sync.domain.outcomes import RawOutcome

log = structlog.get_logger(__name__)


class HubSpotLookup(Protocol):
    """What the outcome endpoint asks HubSpot (implemented by ``adapters.hubspot_people.HubSpotPeople``)."""

    def contact_emails(self, contact_ids: Sequence[str]) -> dict[str, str]: ...

    def deal_contacts(self, deal_ids: Sequence[str]) -> dict[str, list[str]]: ...


def resolve_hubspot(
    contact_events: Sequence[RawOutcome], deal_events: Sequence[RawOutcome], people: HubSpotLookup
) -> list[RawOutcome]:
    """Outcomes with ``email`` set where HubSpot knows it, oldest first (HubSpot batches are not ordered)."""
    deal_ids = [r.crm_object_id or "" for r in deal_events]
    contacts_of = people.deal_contacts(deal_ids) if deal_events else {}
    deal_contacts = [c for d in deal_ids for c in contacts_of.get(d, [])]
    contact_ids = [r.crm_object_id or "" for r in contact_events] + deal_contacts
    emails = people.contact_emails(contact_ids) if contact_ids else {}
    out = [
        replace(r, email=emails.get(r.crm_object_id or ""), person_object_id=r.crm_object_id) for r in contact_events
    ]
    for r in deal_events:
        contacts = contacts_of.get(r.crm_object_id or "", [])
        if not contacts:
            log.warning("hubspot_deal_without_contacts", deal_id=r.crm_object_id, kind=r.kind)
        out.extend(replace(r, event_id=f"{r.event_id}:{c}", email=emails.get(c), person_object_id=c) for c in contacts)
    return sorted(out, key=lambda r: r.occurred_at)
