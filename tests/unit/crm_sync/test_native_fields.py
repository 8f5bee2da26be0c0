"""CRM-native fields: HubSpot lifecycle stage and lead status, Salesforce Lead Status and Rating; written so that
sales' own changes are never reset and our writes are never read back as outcomes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import trustme

from peerscore.crm_sync.domain.mapping import CrmLeadRecord, to_crm_record
from peerscore.crm_sync.domain.native import NativeFields, hubspot_native, salesforce_native
from peerscore.crm_sync.domain.outcomes import HUBSPOT_LEAD_STATUS, HUBSPOT_LIFECYCLE
from peerscore.crm_sync.domain.payloads import (
    HUBSPOT_FIELD_MAPPING,
    SALESFORCE_FIELD_MAPPING,
    hubspot_upsert_input,
    salesforce_record,
)
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_salesforce import add_record, salesforce_server
from tests.unit.crm_sync.factories import transition
from tests.unit.crm_sync.harness import hubspot_adapter, salesforce_adapter


def mql(version: int = 1, grade: str = "A") -> CrmLeadRecord:
    record = to_crm_record(transition("p_a", version, email="ada@acme.example"))
    return record.model_copy(update={"grade": grade})


def later_update(record: CrmLeadRecord) -> CrmLeadRecord:
    """A later version of an MQL (the score moved): it still says when the lead qualified."""
    assert record.qualified_at is not None
    return record.model_copy(
        update={"version": record.version + 1, "transitioned_at": record.transitioned_at + timedelta(minutes=5)}
    )


def test_hubspot_lifecycle_and_status_are_set_once_when_the_lead_qualifies() -> None:
    assert hubspot_native(mql(), NativeFields()) == {
        "lifecyclestage": "marketingqualifiedlead",
        "hs_lead_status": "NEW",
    }
    assert hubspot_native(later_update(mql()), NativeFields()) == {}
    recycled = to_crm_record(transition("p_a", 2, kind="recycled"))
    assert hubspot_native(recycled, NativeFields()) == {}
    assert hubspot_native(mql(), NativeFields(enabled=False)) == {}


def test_our_native_values_are_not_outcomes_when_hubspot_echoes_them() -> None:
    native = NativeFields()
    assert native.hubspot_lifecycle_stage not in HUBSPOT_LIFECYCLE
    assert native.hubspot_lead_status.lower() not in HUBSPOT_LEAD_STATUS


def test_salesforce_rating_follows_the_grade_and_status_is_set_on_qualifying() -> None:
    assert salesforce_native(mql(grade="A"), NativeFields(), "Lead") == {
        "Rating": "Hot",
        "Status": "Open - Not Contacted",
    }
    assert salesforce_native(later_update(mql(grade="B")), NativeFields(), "Lead") == {"Rating": "Warm"}
    assert salesforce_native(mql(), NativeFields(), "Contact") == {}


def test_payloads_carry_the_native_fields() -> None:
    props = hubspot_upsert_input(mql(), HUBSPOT_FIELD_MAPPING)["properties"]
    assert props["lifecyclestage"] == "marketingqualifiedlead" and props["peerscore_status"] == "MQL"
    record = salesforce_record(mql(grade="C"), SALESFORCE_FIELD_MAPPING, "Lead", "Peerscore_Person_Key__c")
    assert (record["Rating"], record["Status"], record["Peerscore_Status__c"]) == (
        "Cold",
        "Open - Not Contacted",
        "MQL",
    )


def test_hubspot_contact_gets_its_lifecycle_stage_and_keeps_sales_lead_status_afterwards() -> None:
    with hubspot_server() as server:
        adapter = hubspot_adapter(server.url)
        first = mql()
        adapter.upsert([first])
        stored = server.state.records["ada@acme.example"]
        assert (stored["lifecyclestage"], stored["hs_lead_status"]) == ("marketingqualifiedlead", "NEW")
        stored["hs_lead_status"] = "IN_PROGRESS"  # a salesperson picked it up
        adapter.upsert([later_update(first)])
        assert server.state.records["ada@acme.example"]["hs_lead_status"] == "IN_PROGRESS"


def test_salesforce_new_lead_gets_status_and_rating_an_existing_one_keeps_its_status(tmp_path: Path) -> None:
    ca = trustme.CA()
    with salesforce_server(ca) as server:
        adapter = salesforce_adapter(server.url, ca, tmp_path)
        [created] = adapter.upsert([mql(grade="A")])
        assert created.object is not None
        stored = server.state.records[created.object.object_id]
        assert (stored["Status"], stored["Rating"]) == ("Open - Not Contacted", "Hot")

        worked = add_record(server.state, "Lead", Email="bob@acme.example", LastName="B", Company="Acme")
        server.state.records[worked]["Status"] = "Working - Contacted"
        bob = to_crm_record(transition("p_b", 1, email="bob@acme.example")).model_copy(update={"grade": "B"})
        adapter.upsert([bob])
        assert (server.state.records[worked]["Status"], server.state.records[worked]["Rating"]) == (
            "Working - Contacted",
            "Warm",
        )
