"""Pure payload builders, one per CRM wire format, all starting from :func:`crm_properties`.

Kept apart from the adapters so the exact bytes a CRM receives can be tested without a server, and so the
configured field mapping is honoured the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from peerscore.crm_sync.domain.mapping import (
    SALESFORCE_LINE_PROPERTY,
    CrmLeadRecord,
    FieldMappingError,
    crm_properties,
)
from peerscore.crm_sync.domain.native import NativeFields, hubspot_native, salesforce_native


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def hubspot_upsert_input(
    record: CrmLeadRecord, mapping: Mapping[str, str], native: NativeFields = NativeFields()
) -> dict[str, Any]:
    """One input of ``POST /crm/v3/objects/contacts/batch/upsert``: matched by email, properties as strings
    (HubSpot's property values are strings); unknown values are left out rather than blanking the CRM's. The
    native lifecycle stage and lead status are added on the qualifying version (see :mod:`.native`)."""
    properties = {k: _as_text(v) for k, v in crm_properties(record, mapping).items() if v is not None}
    properties |= hubspot_native(record, native)
    return {"idProperty": "email", "id": record.email.lower(), "properties": properties}


def salesforce_record(
    record: CrmLeadRecord,
    mapping: Mapping[str, str],
    sobject: str,
    external_id_field: str,
    native: NativeFields = NativeFields(),
) -> dict[str, Any]:
    """One record of an sObject Collections upsert: typed JSON values, the external id always set, and the Lead's
    native ``Rating`` / ``Status`` (see :mod:`.native`).

    Salesforce requires ``attributes.type`` on every record of a collection request.
    """
    fields = salesforce_native(record, native, sobject)
    properties = crm_properties(record, mapping, SALESFORCE_LINE_PROPERTY)
    fields |= {k: v for k, v in properties.items() if v is not None}
    fields[external_id_field] = record.person_key
    if "LastName" not in fields:
        fields["LastName"] = record.last_name or record.email.split("@")[0]  # Lead and Contact require LastName
    if sobject == "Lead" and "Company" not in fields:
        fields["Company"] = record.company or record.domain or "Unknown"  # and Company
    return {"attributes": {"type": sobject}, **fields}


_WEBHOOK_EVENTS = {"MQL": "qualified", "Recycled": "recycled", "Opted out": "opted_out"}


def webhook_body(record: CrmLeadRecord, mapping: Mapping[str, str]) -> dict[str, Any]:
    """The signed webhook's JSON: an event name and version a receiver can route and deduplicate on."""
    return {
        "event": "peerscore.lead." + ("opted_out" if record.status == "Opted out" else record.change),
        "person_key": record.person_key,
        "version": record.version,
        "lead": crm_properties(record, mapping),
        "reasons": list(record.reasons),
    }


_PEERSCORE_FIELDS = (
    *("score", "fit", "engagement", "intent", "probability", "model_version", "grade", "level", "version"),
)

HUBSPOT_FIELD_MAPPING: Mapping[str, str] = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "title": "jobtitle",
    "company": "company",
    "domain": "website",
    "country": "country",
    "person_key": "peerscore_person_key",
    **{field: f"peerscore_{field}" for field in _PEERSCORE_FIELDS},
    "status": "peerscore_status",
    "reasons_text": "peerscore_reasons",
    "groups_text": "peerscore_groups",
    "ruleset_version": "peerscore_ruleset_version",
    "qualified_at": "peerscore_qualified_at",
}
"""HubSpot's built-in contact property names; ours need custom properties of the same names in the portal."""

SALESFORCE_FIELD_MAPPING: Mapping[str, str] = {
    "email": "Email",
    "first_name": "FirstName",
    "last_name": "LastName",
    "title": "Title",
    "company": "Company",
    "domain": "Website",
    "country": "Country",
    **{field: f"Peerscore_{field.title()}__c" for field in _PEERSCORE_FIELDS},
    "status": "Peerscore_Status__c",
    "reasons_text": "Peerscore_Reasons__c",
    "groups_text": "Peerscore_Groups__c",
    "ruleset_version": "Peerscore_Ruleset_Version__c",
    "qualified_at": "Peerscore_Qualified_At__c",
}
"""Standard Lead fields plus custom fields (``__c``); the external id field is set separately."""

SALESFORCE_CONTACT_FIELD_MAPPING: Mapping[str, str] = {
    field: prop for field, prop in SALESFORCE_FIELD_MAPPING.items() if field not in ("company", "domain", "country")
} | {"country": "MailingCountry"}
"""Contact has no ``Company`` or ``Website`` (those live on its Account) and names its country ``MailingCountry``."""

SALESFORCE_ONLY_ON: Mapping[str, frozenset[str]] = {
    "Lead": frozenset(
        {"Company", "Website", "Status", "Street", "City", "State", "PostalCode", "Country", "Industry", "Rating"}
        | {"AnnualRevenue", "NumberOfEmployees", "IsConverted", "ConvertedDate", "ConvertedAccountId"}
        | {"ConvertedContactId", "ConvertedOpportunityId"}
    ),
    "Contact": frozenset(
        {"AccountId", "Department", "Birthdate", "ReportsToId", "AssistantName", "AssistantPhone"}
        | {f"{kind}{part}" for kind in ("Mailing", "Other") for part in ("Street", "City", "State", "PostalCode")}
        | {"MailingCountry", "OtherCountry"}
    ),
}
"""Standard fields that exist on one of the two targets only. Custom fields (``__c``) cannot be checked without a
describe call, so only these are: the common mistake is switching ``SALESFORCE_SOBJECT`` and keeping a Lead mapping,
which Salesforce would refuse for every lead (``INVALID_FIELD``) instead of once at start."""


def validate_salesforce_mapping(mapping: Mapping[str, str], sobject: str) -> None:
    """Refuse standard fields the target object does not have; raises :class:`FieldMappingError`."""
    foreign = sorted(
        prop
        for other, only in SALESFORCE_ONLY_ON.items()
        if other != sobject
        for prop in mapping.values()
        if prop in only
    )
    if foreign:
        raise FieldMappingError(
            f"Salesforce {sobject} has no field(s) {foreign}: map them to {sobject} fields or drop them"
        )


def salesforce_default_mapping(sobject: str) -> Mapping[str, str]:
    return SALESFORCE_CONTACT_FIELD_MAPPING if sobject == "Contact" else SALESFORCE_FIELD_MAPPING


_COUNTRY_FIELD = {"Lead": "Country", "Contact": "MailingCountry"}


def salesforce_update(
    record: CrmLeadRecord,
    mapping: Mapping[str, str],
    mapped_sobject: str,
    external_id_field: str,
    target: tuple[str, str],
    native: NativeFields = NativeFields(),
) -> dict[str, Any]:
    """One record of an sObject Collections *update* of an existing record ``target`` = (object type, id).

    The record found by email may be of the other type than the mapping's (a Lead mapping updating the buyer's
    Contact): fields that object lacks are left out, the country goes to its own field, and Peerscore's external id
    is only written on the mapping's own object (the other may not have the field).
    """
    sobject, object_id = target
    fields = salesforce_record(record, mapping, mapped_sobject, external_id_field, native)
    del fields["attributes"]
    fields.pop("Status", None)  # a record sales already had keeps its status: theirs to set
    if sobject != mapped_sobject:
        fields.pop(external_id_field, None)
        country = fields.pop(_COUNTRY_FIELD.get(mapped_sobject, ""), None)
        fields = {k: v for k, v in fields.items() if k not in SALESFORCE_ONLY_ON.get(mapped_sobject, frozenset())}
        if country is not None and sobject in _COUNTRY_FIELD:
            fields[_COUNTRY_FIELD[sobject]] = country
        if sobject == "Lead":
            fields.setdefault("Company", record.company or record.domain or "Unknown")
    return {"attributes": {"type": sobject}, "id": object_id, **fields}
