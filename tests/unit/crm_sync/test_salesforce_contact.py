"""Salesforce with ``SALESFORCE_SOBJECT=Contact``: Contact's own fields and external id on the strict server, and a
mapping naming a field the target object lacks refused at start (not by Salesforce for every lead)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from pydantic import SecretStr

from peerscore.crm_sync.domain.mapping import FieldMappingError, to_crm_record
from peerscore.crm_sync.domain.payloads import SALESFORCE_FIELD_MAPPING
from peerscore.crm_sync.settings import CrmSyncSettings, SalesforceSettings
from peerscore.settings import RuntimeSettings
from peerscore_testkit.fake_salesforce import salesforce_server
from peerscore_testkit.fake_servers import FakeServer
from tests.unit.crm_sync.factories import transition
from tests.unit.crm_sync.harness import CONTACT_EXTERNAL_ID, salesforce_adapter


@pytest.fixture
def salesforce() -> Iterator[tuple[FakeServer, trustme.CA]]:
    ca = trustme.CA()
    with salesforce_server(ca) as server:
        yield server, ca


def test_contact_upsert_uses_contact_fields_and_its_external_id(
    salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path
) -> None:
    server, ca = salesforce
    adapter = salesforce_adapter(server.url, ca, tmp_path, sobject="Contact", external_id_field=CONTACT_EXTERNAL_ID)
    lead = to_crm_record(transition("p_a", 2, email="ada@acme.example", domain="acme.example", country="DE"))
    assert [r.outcome for r in adapter.upsert([lead])] == ["ok"]
    [stored] = [r for r in server.state.records.values() if r.get(CONTACT_EXTERNAL_ID) == "p_a"]
    assert (stored["_type"], stored["_id"][:3]) == ("Contact", "003")
    assert (stored[CONTACT_EXTERNAL_ID], stored["MailingCountry"], stored["LastName"]) == ("p_a", "DE", "Lovelace")
    assert not {"Company", "Website", "Country", "Peerscore_Person_Key__c"} & set(stored)


def test_the_server_refuses_a_field_contact_does_not_have(
    salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path
) -> None:
    """Why start-up validation matters: Salesforce refuses the whole call, for every lead, as a permanent error."""
    server, ca = salesforce
    adapter = salesforce_adapter(server.url, ca, tmp_path, sobject="Contact", external_id_field=CONTACT_EXTERNAL_ID)
    adapter._mapping["company"] = "Company"  # bypasses the constructor's check, as an old build would have
    [result] = adapter.upsert([to_crm_record(transition("p_a", 1, email="ada@acme.example"))])
    assert result.outcome == "permanent" and "No such column 'Company' on sobject of type Contact" in (
        result.message or ""
    )


@pytest.mark.parametrize(
    ("sobject", "mapping", "field"),
    [
        ("Contact", dict(SALESFORCE_FIELD_MAPPING), "Company"),
        ("Contact", {"email": "Email", "domain": "Website"}, "Website"),
        ("Lead", {"email": "Email", "country": "MailingCountry"}, "MailingCountry"),
    ],
)
def test_a_field_the_target_object_lacks_is_refused_at_start(
    salesforce: tuple[FakeServer, trustme.CA], tmp_path: Path, sobject: str, mapping: dict[str, str], field: str
) -> None:
    server, ca = salesforce
    with pytest.raises(FieldMappingError, match=field):
        salesforce_adapter(server.url, ca, tmp_path, sobject=sobject, mapping=mapping)
    settings = CrmSyncSettings(adapter="salesforce", field_mapping=mapping)
    sf = SalesforceSettings(sobject=sobject, instance_url=server.url, session_id=SecretStr("00D-real-session"))  # type: ignore[arg-type]
    with pytest.raises(FieldMappingError, match=field):
        settings.check(RuntimeSettings(env="dev"), salesforce=sf)


def test_each_target_object_gets_its_own_default_mapping() -> None:
    settings = CrmSyncSettings(adapter="salesforce")
    assert settings.field_mapping_for("Lead")["company"] == "Company"
    contact = settings.field_mapping_for("Contact")
    assert contact["country"] == "MailingCountry" and "company" not in contact and "domain" not in contact
    assert settings.effective_field_mapping == settings.field_mapping_for("Lead")
