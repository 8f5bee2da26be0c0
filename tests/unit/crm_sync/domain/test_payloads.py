"""The exact payloads each CRM receives, built by the pure mappers from one record and the configured mapping."""

from __future__ import annotations

import hashlib
import hmac

from peerscore.crm_sync.domain.mapping import DEFAULT_FIELD_MAPPING, to_crm_record
from peerscore.crm_sync.domain.payloads import (
    HUBSPOT_FIELD_MAPPING,
    SALESFORCE_FIELD_MAPPING,
    hubspot_upsert_input,
    salesforce_record,
    webhook_body,
)
from peerscore.crm_sync.domain.signing import peerscore_signature, verify_peerscore_signature
from tests.unit.crm_sync.factories import transition


def test_hubspot_input_is_keyed_by_lowercased_email_with_string_properties_and_no_nulls() -> None:
    record = to_crm_record(transition("p_a", 3, email="Ada@Example.com", title=None))
    payload = hubspot_upsert_input(record, HUBSPOT_FIELD_MAPPING)
    assert (payload["idProperty"], payload["id"]) == ("email", "ada@example.com")
    props = payload["properties"]
    assert props["peerscore_version"] == "3" and props["peerscore_score"] == "72.5"
    assert props["peerscore_reasons"] == "Visited pricing 3 times\nVP at a 500-person SaaS company"
    assert props["peerscore_qualified_at"] == "2025-03-01T09:03:00Z"
    assert "jobtitle" not in props and "peerscore_probability" not in props  # unknown values never blank the CRM's
    assert all(isinstance(v, str) for v in props.values())


def test_probability_model_version_and_groups_reach_hubspot_salesforce_and_the_webhook() -> None:
    scored = transition("p_a", 4, probability=0.4321, model_version=7, groups={"fit": 40.0, "product_usage": 12.5})
    record = to_crm_record(scored)
    props = hubspot_upsert_input(record, HUBSPOT_FIELD_MAPPING)["properties"]
    assert (props["peerscore_probability"], props["peerscore_model_version"]) == ("0.4321", "7")
    assert props["peerscore_groups"] == "fit: 40\nproduct_usage: 12.5"
    sf = salesforce_record(record, SALESFORCE_FIELD_MAPPING, "Lead", "Peerscore_Person_Key__c")
    assert (sf["Peerscore_Probability__c"], sf["Peerscore_Model_Version__c"]) == (0.4321, 7)
    assert sf["Peerscore_Groups__c"] == "fit: 40\nproduct_usage: 12.5"
    body = webhook_body(record, DEFAULT_FIELD_MAPPING)
    assert (body["lead"]["peerscore_probability"], body["lead"]["peerscore_model_version"]) == (0.4321, 7)


def test_an_update_is_announced_as_an_update_to_webhook_receivers() -> None:
    body = webhook_body(to_crm_record(transition("p_a", 5, kind="updated")), DEFAULT_FIELD_MAPPING)
    assert (body["event"], body["lead"]["lead_status"], body["lead"]["peerscore_qualified_at"]) == (
        "peerscore.lead.updated",
        "MQL",
        None,
    )


def test_salesforce_record_has_type_external_id_and_required_lead_fields() -> None:
    record = to_crm_record(transition("p_a", 2, first_name="Ada", last_name=None, company=None, domain="acme.io"))
    payload = salesforce_record(record, SALESFORCE_FIELD_MAPPING, "Lead", "Peerscore_Person_Key__c")
    assert payload["attributes"] == {"type": "Lead"}
    assert (payload["Peerscore_Person_Key__c"], payload["Email"], payload["Peerscore_Version__c"]) == (
        "p_a",
        "ada@example.com",
        2,
    )
    assert (payload["LastName"], payload["Company"]) == ("ada", "acme.io")


def test_a_configured_mapping_decides_which_properties_leave() -> None:
    record = to_crm_record(transition("p_a", 1))
    body = webhook_body(record, {"email": "mail", "score": "points"})
    assert body["lead"] == {"mail": "ada@example.com", "points": 72.5}
    assert (body["event"], body["version"]) == ("peerscore.lead.qualified", 1)


def test_signature_matches_the_documented_algorithm_and_expires() -> None:
    body, secret = b'{"a":1}', b"s3cret"
    expected = "sha256=" + hmac.new(secret, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert peerscore_signature(secret, 1_700_000_000, body) == expected
    assert verify_peerscore_signature(secret, "1700000000", expected, body, now=1_700_000_299)
    assert not verify_peerscore_signature(secret, "1700000000", expected, body, now=1_700_000_301)
    assert not verify_peerscore_signature(secret, "1700000000", expected, body + b" ", now=1_700_000_000)
