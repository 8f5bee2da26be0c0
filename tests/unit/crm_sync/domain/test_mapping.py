"""The pure mapping from a lead transition to a CRM record, and the configurable field mapping."""

from __future__ import annotations

import pytest

from peerscore.crm_sync.domain.mapping import (
    DEFAULT_FIELD_MAPPING,
    MAPPABLE_FIELDS,
    FieldMappingError,
    UnmappableLead,
    crm_properties,
    to_crm_record,
    validate_field_mapping,
)
from tests.unit.crm_sync.factories import transition


def test_qualified_transition_becomes_an_mql_with_its_qualification_date() -> None:
    t = transition(version=4, title="VP Marketing", domain="analytical.io", country="GB")
    record = to_crm_record(t)
    assert record.status == "MQL"
    assert record.qualified_at == t.transitioned_at
    assert record.transitioned_at == t.transitioned_at
    assert (record.version, record.score, record.grade, record.level) == (4, 72.5, "A", 3)
    assert (record.fit, record.engagement, record.intent) == (40.0, 25.0, 7.5)
    assert (record.title, record.domain, record.country) == ("VP Marketing", "analytical.io", "GB")
    assert record.ruleset_version == "rules-7"
    assert record.full_name == "Ada Lovelace"


def test_recycled_transition_is_recycled_without_a_qualification_date() -> None:
    record = to_crm_record(transition(kind="recycled", version=9))
    assert record.status == "Recycled"
    assert record.qualified_at is None


def test_reasons_text_has_one_line_per_reason() -> None:
    record = to_crm_record(transition(reasons=("Pricing page x3", "Title: VP", "Downloaded the RFP kit")))
    assert record.reasons == ["Pricing page x3", "Title: VP", "Downloaded the RFP kit"]
    assert record.reasons_text.splitlines() == record.reasons
    assert to_crm_record(transition(reasons=())).reasons_text == ""


@pytest.mark.parametrize("email", [None, "", "   "])
def test_a_lead_without_email_cannot_be_mapped(email: str | None) -> None:
    with pytest.raises(UnmappableLead) as info:
        to_crm_record(transition(email=email))
    assert info.value.reason == "missing email"


def test_email_is_trimmed() -> None:
    assert to_crm_record(transition(email="  ada@example.com ")).email == "ada@example.com"


def test_default_mapping_is_valid_and_sends_reasons_as_text() -> None:
    assert validate_field_mapping(DEFAULT_FIELD_MAPPING) == dict(DEFAULT_FIELD_MAPPING)
    props = crm_properties(to_crm_record(transition(reasons=("a", "b"))))
    assert props["peerscore_reasons"] == "a\nb"
    assert props["lead_status"] == "MQL"
    assert props["email"] == "ada@example.com"


def test_custom_mapping_renames_and_drops_unmapped_fields_with_json_ready_values() -> None:
    mapping = validate_field_mapping({"email": "Email", "score": "Lead_Score__c", "qualified_at": "MQL_Date__c"})
    props = crm_properties(to_crm_record(transition(version=2)), mapping)
    assert props == {"Email": "ada@example.com", "Lead_Score__c": 72.5, "MQL_Date__c": "2025-03-01T09:02:00Z"}


def test_unknown_peerscore_field_is_refused_by_name() -> None:
    with pytest.raises(FieldMappingError, match="shoe_size"):
        validate_field_mapping({"email": "email", "shoe_size": "shoe"})


def test_blank_and_duplicate_crm_properties_are_refused_together() -> None:
    with pytest.raises(FieldMappingError) as info:
        validate_field_mapping({"email": "email", "first_name": " ", "last_name": "name", "company": "name"})
    assert "empty CRM property name for ['first_name']" in str(info.value)
    assert "mapped more than once: ['name']" in str(info.value)


def test_every_record_field_is_mappable_including_the_computed_text() -> None:
    assert {"reasons_text", "reasons", "person_key", "version", "transitioned_at"} <= MAPPABLE_FIELDS
    assert "full_name" not in MAPPABLE_FIELDS
