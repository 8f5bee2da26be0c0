"""One buyer, one CRM record: which existing record a lead updates, and which record survives a merge.

Pure, so the rules are testable without a CRM. Salesforce does not deduplicate on its own (an upsert by Peerscore's
external id creates a second Lead next to the one sales already has for the same email), so crm-sync looks for the
buyer's record by email first, in the order the configured match rule says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from peerscore.crm_sync.adapters.base import CrmObjectRef

MatchRule = Literal["lead_then_contact", "contact_then_lead", "lead", "contact", "external_id"]

MATCH_OBJECTS: Mapping[str, tuple[str, ...]] = {
    "lead_then_contact": ("Lead", "Contact"),
    "contact_then_lead": ("Contact", "Lead"),
    "lead": ("Lead",),
    "contact": ("Contact",),
    "external_id": (),
}
"""The Salesforce objects searched by email, in order of preference; ``external_id`` matches by Peerscore's key
only (the behaviour before email matching: a Lead sales created by hand gets a twin)."""


@dataclass(frozen=True)
class ExistingRecord:
    """A record found in the CRM for an email: its type, id, email, Peerscore key (if we wrote one), creation."""

    sobject: str
    object_id: str
    email: str
    person_key: str | None = None
    created: str = ""


def choose_match(
    email: str, person_key: str, existing: Sequence[ExistingRecord], rule: MatchRule
) -> ExistingRecord | None:
    """The record the lead must update, or ``None`` to create one.

    Candidates share the lead's email (case-insensitive). The rule's object order decides first (a buyer with a
    Contact is past the Lead stage), then a record already carrying this person's key, then the oldest record
    (the one sales has worked longest), then the id, so the choice is deterministic.
    """
    order = MATCH_OBJECTS[rule]
    wanted = email.strip().lower()
    candidates = [r for r in existing if r.sobject in order and r.email.strip().lower() == wanted]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda r: (order.index(r.sobject), r.person_key != person_key, r.created, r.object_id),
    )


SURVIVOR_RANK: Mapping[str, int] = {"Contact": 0, "contact": 0, "Lead": 1}
"""Which record type outranks the other when two Peerscore people merge: a Contact (a converted buyer, with an
account and maybe opportunities) is kept over a Lead."""


@dataclass(frozen=True)
class MergePlan:
    """What a merge does in one CRM.

    ``survivor`` is the record the merged person keeps (``None``: neither reached the CRM); ``retired`` is the other
    record to merge into it or mark (``None``: nothing to do in the CRM, only the id table changes).
    """

    survivor: CrmObjectRef | None
    retired: CrmObjectRef | None


def plan_merge(target: CrmObjectRef | None, source: CrmObjectRef | None) -> MergePlan:
    """The merged person's record: the target's unless the source's outranks it (Contact over Lead).

    Both people may already share one record (HubSpot upserts by email, so two keys with one email are one
    contact): then there is nothing to merge in the CRM.
    """
    if target is None or source is None or target.object_id == source.object_id:
        return MergePlan(target or source, None)
    if SURVIVOR_RANK.get(source.object_type, 2) < SURVIVOR_RANK.get(target.object_type, 2):
        return MergePlan(source, target)
    return MergePlan(target, source)
