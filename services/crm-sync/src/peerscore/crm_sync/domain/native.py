"""The CRM's own lifecycle and status fields, set from a lead version: what sales filter and report on.

Pure and kept apart from the Peerscore properties because the rules differ: Peerscore's own fields follow every
version, while the native status fields belong to sales once the lead is handed off. So:

* the lifecycle stage / lead status are written **once, on the qualifying version** (``qualified_at`` equal to
  ``transitioned_at``): later versions (updates, recycling, opt-out) never reset what a salesperson set;
* the values written never mean a sales outcome: ``marketingqualifiedlead`` and ``NEW`` are not in the outcome
  vocabulary (``domain.outcomes``), so HubSpot's webhook echo of our own write is not read back as a label;
* the Salesforce ``Rating`` follows the grade on every version: it is the lead's temperature, which is
  Peerscore's to say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from peerscore.crm_sync.domain.mapping import CrmLeadRecord


@dataclass(frozen=True)
class NativeFields:
    """Which native values to write; ``enabled=False`` leaves the CRM's own fields alone entirely."""

    enabled: bool = True
    hubspot_lifecycle_stage: str = "marketingqualifiedlead"
    hubspot_lead_status: str = "NEW"
    salesforce_lead_status: str = "Open - Not Contacted"
    salesforce_rating: Mapping[str, str] = field(
        default_factory=lambda: {"A": "Hot", "B": "Warm", "C": "Cold", "D": "Cold"}
    )


def is_qualifying_version(record: CrmLeadRecord) -> bool:
    """The version that made the lead an MQL (not a later update of an MQL)."""
    return record.status == "MQL" and record.qualified_at is not None and record.qualified_at == record.transitioned_at


def hubspot_native(record: CrmLeadRecord, native: NativeFields) -> dict[str, str]:
    """HubSpot contact properties: lifecycle stage and lead status, on the qualifying version only."""
    if not native.enabled or not is_qualifying_version(record):
        return {}
    return {"lifecyclestage": native.hubspot_lifecycle_stage, "hs_lead_status": native.hubspot_lead_status}


def salesforce_native(record: CrmLeadRecord, native: NativeFields, sobject: str) -> dict[str, Any]:
    """Salesforce Lead ``Rating`` (every version) and ``Status`` (qualifying version); Contacts have neither."""
    if not native.enabled or sobject != "Lead":
        return {}
    fields: dict[str, Any] = {}
    if record.grade in native.salesforce_rating:
        fields["Rating"] = native.salesforce_rating[record.grade]
    if is_qualifying_version(record):
        fields["Status"] = native.salesforce_lead_status
    return fields
