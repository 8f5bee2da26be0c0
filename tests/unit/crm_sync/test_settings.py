"""crm-sync settings read from the environment: field mapping JSON, dev database and port defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from peerscore.crm_sync.domain.mapping import DEFAULT_FIELD_MAPPING
from peerscore.crm_sync.settings import CrmDatabaseSettings, CrmHttpSettings, CrmSyncSettings, HubSpotSettings
from peerscore.settings import RuntimeSettings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_ADAPTER", "CRM_GROUP_ID", "CRM_FIELD_MAPPING"):
        monkeypatch.delenv(name, raising=False)
    settings = CrmSyncSettings()
    assert (settings.adapter, settings.group_id, settings.field_mapping) == (
        "local",
        "peerscore-crm-sync",
        None,
    )
    assert settings.effective_field_mapping == dict(DEFAULT_FIELD_MAPPING)


def test_field_mapping_is_read_as_json_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_FIELD_MAPPING", '{"email": "Email", "score": " Lead_Score__c "}')
    assert CrmSyncSettings().effective_field_mapping == {"email": "Email", "score": "Lead_Score__c"}


def test_unknown_field_in_mapping_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_FIELD_MAPPING", '{"emial": "Email"}')
    with pytest.raises(ValidationError, match="emial"):
        CrmSyncSettings()


def test_unknown_adapter_is_refused() -> None:
    with pytest.raises(ValidationError):
        CrmSyncSettings(adapter="pipedrive")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("adapter", "env", "message"),
    [
        ("hubspot", {"HUBSPOT_ACCESS_TOKEN": "changeme"}, "HUBSPOT_ACCESS_TOKEN"),
        ("salesforce", {"SALESFORCE_SESSION_ID": "", "SALESFORCE_INSTANCE_URL": "x"}, "SALESFORCE_SESSION_ID"),
        ("webhook", {"CRM_WEBHOOK_SECRET": "secret", "CRM_WEBHOOK_URL": "http://x"}, "CRM_WEBHOOK_SECRET"),
    ],
)
def test_placeholder_crm_secrets_are_refused_outside_dev(
    monkeypatch: pytest.MonkeyPatch, adapter: str, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = CrmSyncSettings(adapter=adapter)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        settings.check(RuntimeSettings(env="prod"))
    assert settings.check(RuntimeSettings(env="dev")) is settings


def test_each_remote_crm_gets_its_own_default_mapping() -> None:
    assert CrmSyncSettings(adapter="hubspot").effective_field_mapping["first_name"] == "firstname"
    assert CrmSyncSettings(adapter="salesforce").effective_field_mapping["email"] == "Email"


def test_database_defaults_to_its_own_sqlite_file_unless_database_url_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert CrmDatabaseSettings().database_url == "sqlite:///var/crm.db"
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://crm@db/peerscore")
    assert CrmDatabaseSettings().database_url == "postgresql+psycopg://crm@db/peerscore"


def test_http_port_defaults_to_8002_unless_http_port_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PORT", raising=False)
    assert CrmHttpSettings().port == 8002
    monkeypatch.setenv("HTTP_PORT", "9100")
    assert CrmHttpSettings().port == 9100


def test_hubspot_deal_stages_default_to_hubspots_and_read_comma_separated_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUBSPOT_DEAL_WON_STAGES", "HUBSPOT_DEAL_LOST_STAGES"):
        monkeypatch.delenv(name, raising=False)
    default = HubSpotSettings().deal_stages
    assert (default.won, default.lost) == ({"closedwon"}, {"closedlost"})
    monkeypatch.setenv("HUBSPOT_DEAL_WON_STAGES", "closedwon, 4815162342")
    assert HubSpotSettings().deal_stages.won == {"closedwon", "4815162342"}


@pytest.mark.parametrize(("won", "lost"), [("closedwon,x", "x"), ("closedwon,", "closedlost")], ids=["both", "empty"])
def test_a_deal_stage_that_is_both_won_and_lost_or_empty_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, won: str, lost: str
) -> None:
    monkeypatch.setenv("HUBSPOT_DEAL_WON_STAGES", won)
    monkeypatch.setenv("HUBSPOT_DEAL_LOST_STAGES", lost)
    with pytest.raises(ValidationError, match="HUBSPOT_DEAL|both won and lost"):
        HubSpotSettings()
