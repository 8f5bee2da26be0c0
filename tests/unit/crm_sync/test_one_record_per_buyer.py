"""One buyer, one CRM record: the id table is filled by the sync, Salesforce finds the buyer's existing record by
email before creating one (the match rule), HubSpot upserts by email."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.crm_sync.adapters.base import CrmObjectRef
from peerscore.crm_sync.adapters.fake import FakeCrmAdapter
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.crm_objects import CrmObject
from peerscore.crm_sync.domain.mapping import to_crm_record
from peerscore.crm_sync.domain.matching import ExistingRecord, MergePlan, choose_match, plan_merge
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.worker import SyncHandler
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_salesforce import add_record, records_of, salesforce_server
from peerscore_testkit.fake_servers import FakeServer
from tests.unit.crm_sync.factories import batch, transition
from tests.unit.crm_sync.harness import hubspot_adapter, salesforce_adapter


def objects(engine: Engine) -> dict[tuple[str, str], tuple[str, str, str | None]]:
    with Session(engine) as session:
        rows = session.exec(select(CrmObject)).all()
    return {(r.crm, r.person_key): (r.object_id, r.object_type, r.company_id) for r in rows}


def test_the_sync_records_each_persons_crm_object(crm_engine: Engine) -> None:
    fake = FakeCrmAdapter()
    SyncHandler(crm_engine, lambda _s: fake, CrmMetrics(CollectorRegistry())).handle(
        batch(transition("p_a", 1, email="a@x.io"), transition("p_b", 1, email="b@x.io"))
    )
    SyncHandler(crm_engine, LocalCrmAdapter, CrmMetrics(CollectorRegistry())).handle(batch(transition("p_a", 2)))
    assert objects(crm_engine) == {
        ("fake", "p_a"): ("fake-p_a", "contact", None),
        ("fake", "p_b"): ("fake-p_b", "contact", None),
        ("local", "p_a"): ("p_a", "crm_lead", None),
    }


def test_a_refused_lead_records_no_object(crm_engine: Engine) -> None:
    fake = FakeCrmAdapter(permanent_failures={"p_a": "INVALID_EMAIL"})
    SyncHandler(crm_engine, lambda _s: fake, CrmMetrics(CollectorRegistry())).handle(batch(transition("p_a", 1)))
    assert objects(crm_engine) == {}


def test_hubspot_reports_the_contact_and_company_it_upserted_by_email() -> None:
    with hubspot_server() as server:
        server.state.records["ada@acme.example"] = {"_id": "777", "email": "ada@acme.example"}  # made by sales
        adapter = hubspot_adapter(server.url)
        lead = to_crm_record(transition("p_user_1", 1, email="Ada@Acme.example", domain="acme.example"))
        [result] = adapter.upsert([lead])
        company = server.state.extra["companies"]["acme.example"]
        assert result.object == CrmObjectRef("777", "contact", company)
        assert list(server.state.records) == ["ada@acme.example"], "the existing contact was updated"


@pytest.fixture
def salesforce() -> Iterator[tuple[FakeServer, trustme.CA]]:
    ca = trustme.CA()
    with salesforce_server(ca) as server:
        yield server, ca


def test_an_existing_salesforce_lead_with_the_same_email_is_updated_not_duplicated(
    salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path
) -> None:
    server, ca = salesforce
    existing = add_record(server.state, "Lead", Email="ada@acme.example", LastName="Lovelace", Company="Acme")
    adapter = salesforce_adapter(server.url, ca, tmp_path)
    lead = to_crm_record(transition("p_ada", 3, email="Ada@Acme.example"))
    [result] = adapter.upsert([lead])
    assert result.outcome == "ok" and result.object == CrmObjectRef(existing, "Lead")
    [stored] = records_of(server.state, "Lead")
    assert (stored["_id"], stored["Peerscore_Version__c"], stored["Peerscore_Person_Key__c"]) == (existing, 3, "p_ada")
    [again] = adapter.upsert([to_crm_record(transition("p_ada", 4, email="ada@acme.example"))])
    assert again.object == CrmObjectRef(existing, "Lead") and len(records_of(server.state, "Lead")) == 1


def test_a_converted_buyer_updates_their_contact_with_contact_fields(
    salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path
) -> None:
    server, ca = salesforce
    add_record(server.state, "Lead", Email="ada@acme.example", LastName="L", Company="Acme", IsConverted=True)
    contact = add_record(server.state, "Contact", Email="ada@acme.example", LastName="Lovelace")
    adapter = salesforce_adapter(server.url, ca, tmp_path)
    lead = to_crm_record(transition("p_ada", 2, email="ada@acme.example", country="DE", domain="acme.example"))
    [result] = adapter.upsert([lead])
    assert result.object == CrmObjectRef(contact, "Contact")
    stored = server.state.records[contact]
    assert (stored["MailingCountry"], stored["Peerscore_Version__c"]) == ("DE", 2)
    assert not {"Company", "Website", "Country"} & set(stored) and len(server.state.records) == 2


@pytest.mark.parametrize(("rule", "creates"), [("lead", True), ("contact_then_lead", False)])
def test_the_match_rule_decides_which_objects_are_searched(
    salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path, rule: str, creates: bool
) -> None:
    server, ca = salesforce
    contact = add_record(server.state, "Contact", Email="ada@acme.example", LastName="Lovelace")
    adapter = salesforce_adapter(server.url, ca, tmp_path)
    adapter.match_rule = rule  # type: ignore[assignment]
    [result] = adapter.upsert([to_crm_record(transition("p_ada", 1, email="ada@acme.example"))])
    assert result.object is not None
    assert (result.object.object_type == "Lead") is creates
    assert (result.object.object_id == contact) is not creates


def test_matching_and_creating_in_one_chunk_keep_the_lead_order(
    salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path
) -> None:
    server, ca = salesforce
    existing = add_record(server.state, "Lead", Email="b@x.io", LastName="B", Company="X")
    server.state.rejected["c@x.io"] = "INVALID_EMAIL_ADDRESS: bounced"
    leads = [to_crm_record(transition(k, 1, email=f"{k[-1]}@x.io")) for k in ("p_a", "p_b", "p_c", "p_d")]
    results = salesforce_adapter(server.url, ca, tmp_path).upsert(leads)
    assert [(r.person_key, r.outcome) for r in results] == [
        ("p_a", "ok"),
        ("p_b", "ok"),
        ("p_c", "permanent"),
        ("p_d", "ok"),
    ]
    assert results[1].object == CrmObjectRef(existing, "Lead") and len(records_of(server.state, "Lead")) == 3


def test_an_apostrophe_in_an_email_is_quoted_in_soql(salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path) -> None:
    server, ca = salesforce
    existing = add_record(server.state, "Lead", Email="o'brien@x.io", LastName="O'Brien", Company="X")
    [result] = salesforce_adapter(server.url, ca, tmp_path).upsert(
        [to_crm_record(transition("p_o", 1, email="o'brien@x.io"))]
    )
    assert result.object == CrmObjectRef(existing, "Lead")


def test_choose_match_prefers_the_rule_order_then_our_own_record_then_the_oldest() -> None:
    lead_old = ExistingRecord("Lead", "00Q1", "a@x.io", None, "2024-01-01")
    lead_ours = ExistingRecord("Lead", "00Q2", "A@X.io", "p_a", "2025-01-01")
    contact = ExistingRecord("Contact", "0031", "a@x.io", None, "2025-06-01")
    found = [contact, lead_old, lead_ours]
    assert choose_match("a@x.io", "p_a", found, "lead_then_contact") == lead_ours
    assert choose_match("a@x.io", "p_b", found, "lead_then_contact") == lead_old
    assert choose_match("a@x.io", "p_a", found, "contact_then_lead") == contact
    assert choose_match("a@x.io", "p_a", [contact], "lead") is None
    assert choose_match("a@x.io", "p_a", found, "external_id") is None
    assert choose_match("b@x.io", "p_a", found, "lead_then_contact") is None


def test_plan_merge_keeps_the_target_unless_the_source_is_further_along() -> None:
    lead_t, lead_s = CrmObjectRef("00Q1", "Lead"), CrmObjectRef("00Q2", "Lead")
    contact_s = CrmObjectRef("0031", "Contact")
    assert plan_merge(lead_t, lead_s) == MergePlan(survivor=lead_t, retired=lead_s)
    assert (plan_merge(lead_t, contact_s).survivor, plan_merge(lead_t, contact_s).retired) == (contact_s, lead_t)
    assert (plan_merge(None, lead_s).survivor, plan_merge(None, lead_s).retired) == (lead_s, None)
    assert plan_merge(lead_t, lead_t).retired is None, "one record already: nothing to merge in the CRM"
    assert plan_merge(None, None).survivor is None


def test_contacts_are_searched_only_for_emails_without_an_open_lead(
    salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path
) -> None:
    server, ca = salesforce
    for email in ("a@x.io", "b@x.io"):
        add_record(server.state, "Lead", Email=email, LastName="L", Company="X")
    adapter = salesforce_adapter(server.url, ca, tmp_path)
    adapter.upsert([to_crm_record(transition(f"p_{c}", 1, email=f"{c}@x.io")) for c in "ab"])
    assert [q.split(" FROM ")[1].split()[0] for q in server.state.extra["queries"]] == ["Lead"]
    adapter.upsert([to_crm_record(transition(f"p_{c}", 2, email=f"{c}@x.io")) for c in "abc"])
    contact_query = server.state.extra["queries"][-1]
    assert " FROM Contact " in contact_query and "'c@x.io'" in contact_query and "a@x.io" not in contact_query
