"""Product lines in the CRM mapping: each line's score, grade and status, for every wire format."""

from __future__ import annotations

from peerscore.crm_sync.domain.freshness import collapse, merge
from peerscore.crm_sync.domain.mapping import DEFAULT_FIELD_MAPPING, crm_properties, to_crm_record
from peerscore.crm_sync.domain.payloads import (
    HUBSPOT_FIELD_MAPPING,
    hubspot_upsert_input,
    salesforce_default_mapping,
    salesforce_record,
    webhook_body,
)
from tests.unit.crm_sync.factories import transition, two_line_transition


def test_a_line_transition_moves_that_lines_status_not_the_leads() -> None:
    record = to_crm_record(two_line_transition())
    assert (record.status, record.change, record.qualified_at) == ("Open", "updated", None)
    assert {n: (line.score, line.grade, line.status) for n, line in record.lines.items()} == {
        "cloud": (65.0, "A", "MQL"),
        "data": (40.0, "A", "Open"),
    }


def test_the_lead_as_a_whole_qualifying_keeps_its_handoff_and_shows_the_lines() -> None:
    t = two_line_transition(product_line=None)
    record = to_crm_record(t.model_copy(update={"score": t.score.model_copy(update={"qualified": True})}))
    assert (record.status, record.change) == ("MQL", "qualified") and record.qualified_at is not None
    assert record.lines["cloud"].status == "MQL" and record.lines["data"].status == "Open"


def test_every_wire_format_names_the_line_properties_its_own_way() -> None:
    record = to_crm_record(two_line_transition())
    props = crm_properties(record, DEFAULT_FIELD_MAPPING)
    assert (props["peerscore_cloud_score"], props["peerscore_cloud_grade"], props["peerscore_cloud_status"]) == (
        65.0,
        "A",
        "MQL",
    )
    assert props["peerscore_data_status"] == "Open" and "lines" not in props
    hubspot = hubspot_upsert_input(record, HUBSPOT_FIELD_MAPPING)["properties"]
    assert hubspot["peerscore_cloud_score"] == "65.0" and hubspot["peerscore_data_status"] == "Open"
    salesforce = salesforce_record(record, salesforce_default_mapping("Lead"), "Lead", "Peerscore_Person_Key__c")
    assert salesforce["Peerscore_Cloud_Score__c"] == 65.0 and salesforce["Peerscore_Data_Status__c"] == "Open"
    assert webhook_body(record, DEFAULT_FIELD_MAPPING)["lead"]["peerscore_cloud_status"] == "MQL"


def test_a_field_left_out_of_the_mapping_is_left_out_for_every_line() -> None:
    mapping = {k: v for k, v in DEFAULT_FIELD_MAPPING.items() if k != "grade"}
    props = crm_properties(to_crm_record(two_line_transition()), mapping)
    assert "peerscore_cloud_score" in props and not any(p.endswith("_grade") for p in props)


def test_single_line_leads_get_no_line_properties() -> None:
    props = crm_properties(to_crm_record(transition()), DEFAULT_FIELD_MAPPING)
    assert set(props) == set(DEFAULT_FIELD_MAPPING.values())


def test_a_withheld_score_withholds_the_lines_too() -> None:
    t = two_line_transition()
    withheld = t.model_copy(update={"score": t.score.model_copy(update={"withheld": "opted_out"})})
    record = to_crm_record(withheld)
    assert record.status == "Opted out" and record.lines == {}


def test_one_version_told_by_the_lead_and_a_line_is_sent_as_the_leads_handoff() -> None:
    line = two_line_transition("p_a", 3)
    whole = two_line_transition("p_a", 3, product_line=None)
    assert collapse([line, whole]) == [whole] and collapse([whole, line]) == [whole]


def test_an_update_after_a_waiting_line_handoff_keeps_the_line() -> None:
    pending = two_line_transition("p_a", 3)
    update = transition("p_a", 4, kind="updated", email="p_a@example.com")
    merged = merge(pending, update)
    assert (merged.kind, merged.product_line, merged.score.version) == ("qualified", "cloud", 4)
