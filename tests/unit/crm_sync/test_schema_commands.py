"""``peerscore crm setup`` / ``peerscore crm check`` against the strict fake HubSpot and Salesforce, through the
real CLI, SDKs and settings from the environment."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from typer.testing import CliRunner

from peerscore.cli import app
from peerscore.crm_sync.adapters.crm_schema import CrmSchema, HubSpotSchema, SalesforceSchema
from peerscore.crm_sync.adapters.hubspot import make_hubspot_client
from peerscore.crm_sync.domain.payloads import HUBSPOT_FIELD_MAPPING, SALESFORCE_FIELD_MAPPING
from peerscore.crm_sync.domain.schema import hubspot_fields, missing, salesforce_fields, salesforce_package
from peerscore.crm_sync.schema_command import check, setup
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_salesforce import salesforce_server
from peerscore_testkit.fake_servers import HUBSPOT_TOKEN, SALESFORCE_SESSION, FakeServer
from tests.unit.crm_sync.harness import TIMEOUT_S, salesforce_adapter

runner = CliRunner()


@pytest.fixture
def hubspot(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    with hubspot_server() as server:
        monkeypatch.setenv("CRM_ADAPTER", "hubspot")
        monkeypatch.setenv("HUBSPOT_HOST", server.url)
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", HUBSPOT_TOKEN)
        yield server


@pytest.fixture
def salesforce(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeServer]:
    ca = trustme.CA()
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    with salesforce_server(ca) as server:
        server.state.extra["custom_fields"] = {}  # a fresh org: no Peerscore field yet
        monkeypatch.setenv("CRM_ADAPTER", "salesforce")
        monkeypatch.setenv("SALESFORCE_INSTANCE_URL", server.url)
        monkeypatch.setenv("SALESFORCE_SESSION_ID", SALESFORCE_SESSION)
        monkeypatch.setenv("SALESFORCE_CA_BUNDLE", str(ca_path))
        yield server


def test_hubspot_check_lists_what_is_missing_setup_creates_it_once(hubspot: FakeServer) -> None:
    before = runner.invoke(app, ["crm", "check"])
    assert before.exit_code == 1, before.output
    assert "contacts.peerscore_score  (Peerscore field)" in before.output

    setup = runner.invoke(app, ["crm", "setup"])
    assert setup.exit_code == 0, setup.output
    created = hubspot.state.extra["properties"]["contacts"]
    assert {"peerscore_score", "peerscore_person_key", "peerscore_reasons", "peerscore_rejection_reason"} <= set(
        created
    )
    assert (created["peerscore_score"]["type"], created["peerscore_qualified_at"]["type"]) == ("number", "datetime")
    assert created["peerscore_person_key"]["hasUniqueValue"] is True
    companies = hubspot.state.extra["properties"]["companies"]
    assert companies["peerscore_account_score"]["groupName"] == "companyinformation"

    assert runner.invoke(app, ["crm", "check"]).exit_code == 0
    again = runner.invoke(app, ["crm", "setup"])
    assert again.exit_code == 0 and "created 0" in again.output


def test_a_mapped_standard_property_that_does_not_exist_is_reported_not_created(
    hubspot: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_FIELD_MAPPING", '{"email": "email", "title": "job_title_typo", "score": "peerscore_score"}')
    result = runner.invoke(app, ["crm", "setup"])
    assert result.exit_code == 1
    assert "contacts.job_title_typo  (standard field" in result.output
    assert "job_title_typo" not in hubspot.state.extra["properties"]["contacts"]


def test_salesforce_setup_creates_custom_fields_through_the_tooling_api(salesforce: FakeServer) -> None:
    assert runner.invoke(app, ["crm", "check"]).exit_code == 1
    result = runner.invoke(app, ["crm", "setup"])
    assert result.exit_code == 0, result.output
    lead_fields = salesforce.state.extra["custom_fields"]["Lead"]
    assert {"Peerscore_Score__c", "Peerscore_Person_Key__c", "Peerscore_Merged_Into__c"} <= lead_fields
    check = runner.invoke(app, ["crm", "check"])
    assert check.exit_code == 0 and "every mapped field exists" in check.output


def test_salesforce_without_schema_rights_gets_a_deployable_package(salesforce: FakeServer, tmp_path: Path) -> None:
    salesforce.state.extra["tooling_denied"] = True
    package = tmp_path / "pkg"
    result = runner.invoke(app, ["crm", "setup", "--package-dir", str(package)])
    assert result.exit_code == 0, result.output
    assert "deploy the package" in result.output and str(package.with_suffix(".zip")) in result.output
    manifest = (package / "package.xml").read_text()
    assert "<members>Lead.Peerscore_Score__c</members>" in manifest and "<name>CustomField</name>" in manifest
    lead = (package / "objects" / "Lead.object").read_text()
    assert "<fullName>Peerscore_Person_Key__c</fullName>" in lead and "<externalId>true</externalId>" in lead
    with zipfile.ZipFile(package.with_suffix(".zip")) as zf:
        assert sorted(zf.namelist()) == ["pkg/objects/Lead.object", "pkg/package.xml"]
    assert runner.invoke(app, ["crm", "check"]).exit_code == 1, "nothing is deployed yet"


def test_the_local_crm_has_nothing_to_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ADAPTER", "local")
    result = runner.invoke(app, ["crm", "check"])
    assert result.exit_code == 0 and "nothing to check" in result.output


def test_required_fields_are_peerscore_ones_plus_the_standard_ones_to_check() -> None:
    hubspot = {f.name: f.custom for f in hubspot_fields(HUBSPOT_FIELD_MAPPING)}
    assert hubspot["peerscore_score"] and not hubspot["email"] and not hubspot["hs_lead_status"]
    sf = {f.name: f for f in salesforce_fields(SALESFORCE_FIELD_MAPPING, "Lead", "Peerscore_Person_Key__c")}
    assert sf["Peerscore_Person_Key__c"].kind == "key" and not sf["Company"].custom and "Rating" in sf
    have = {("Lead", n.upper()) for n in sf if n != "Rating"} | {("Contact", "Rating")}
    assert [f.name for f in missing(list(sf.values()), have)] == ["Rating"]
    files = salesforce_package([sf["Peerscore_Score__c"]], "59.0")
    assert "<precision>18</precision>" in files["objects/Lead.object"]


@pytest.fixture(params=["hubspot", "salesforce"])
def schema_port(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[CrmSchema, FakeServer]]:
    """The schema port contract, over both CRMs that have a schema."""
    if request.param == "hubspot":
        with hubspot_server() as server:
            client = make_hubspot_client(HUBSPOT_TOKEN, server.url)
            yield HubSpotSchema(client, HUBSPOT_FIELD_MAPPING, TIMEOUT_S), server
        return
    ca = trustme.CA()
    with salesforce_server(ca) as server:
        server.state.extra["custom_fields"] = {}
        adapter = salesforce_adapter(server.url, ca, tmp_path)
        yield (
            SalesforceSchema(adapter._client, SALESFORCE_FIELD_MAPPING, "Lead", "Peerscore_Person_Key__c", TIMEOUT_S),
            server,
        )


def test_schema_port_setup_is_idempotent_and_check_then_finds_nothing_missing(
    schema_port: tuple[CrmSchema, FakeServer], tmp_path: Path
) -> None:
    schema, _server = schema_port
    first = check(schema)
    assert first.missing and all(spec.custom for spec in first.missing), "standard fields exist in a fresh CRM"
    done = setup(schema, tmp_path / "pkg")
    assert sorted(done.created) == sorted(spec.name for spec in first.missing) and done.missing == []
    assert setup(schema, tmp_path / "pkg").created == []
    assert schema.create(first.missing[0]) == "exists"
    assert check(schema).missing == []
