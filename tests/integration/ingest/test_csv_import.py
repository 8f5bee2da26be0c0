"""CSV import on the real broker: ``peerscore import csv`` and ``POST /v1/import/csv`` publish every row
(acknowledged), refuse a file with bad rows without publishing anything, and re-imports keep their ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from peerscore.cli import app as cli
from peerscore.events import EngagementEvent
from peerscore.ingest.app import create_app
from peerscore.ingest.settings import IngestConfig, IngestSettings
from peerscore.settings import IdentitySettings, KafkaSettings, RuntimeSettings
from peerscore.topics import Topics
from tests.kafka_helpers import read_topic
from tests.unit.ingest.support import TestClient, basic

pytestmark = pytest.mark.integration

ROWS = (
    "email,first_name,title,company,domain,event,timestamp,properties.asset\n"
    "ada@harbor.example,Ada,VP Marketing,Harbor,harbor.example,,2026-10-01T09:00:00Z,\n"
    "ada@harbor.example,,,,,Content Downloaded,2026-10-02T09:00:00Z,guide\n"
    "bo@harbor.example,Bo,Engineer,Harbor,harbor.example,Webinar Attended,2026-10-03T09:00:00Z,\n"
)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, kafka_settings: KafkaSettings) -> None:
    monkeypatch.setenv("PEERSCORE_ENV", "dev")
    monkeypatch.setenv("PEERSCORE_PERSON_KEY_SECRET", "csv-integration-secret")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", kafka_settings.topic_prefix)


def test_cli_refuses_bad_rows_then_imports_and_reimports_with_the_same_ids(
    cli_env: None, kafka_settings: KafkaSettings, topics: Topics, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(ROWS + "cy@harbor.example,,,,,Demo Requested,last tuesday,\n")
    refused = CliRunner().invoke(cli, ["import", "csv", str(bad)])
    assert refused.exit_code == 1, refused.output
    assert "row 5, column timestamp" in refused.output and "nothing was published" in refused.output

    good = tmp_path / "leads.csv"
    good.write_text(ROWS)
    for _ in range(2):
        done = CliRunner().invoke(cli, ["import", "csv", str(good), "--source", "crm-export"])
        assert done.exit_code == 0, done.output
        assert "published 3 of 3 rows" in done.output

    records = read_topic(kafka_settings, topics.events, expect=6, timeout=30, grace_s=0.5)
    events = [EngagementEvent.model_validate_json(value) for _, value in records]
    assert len(events) == 6  # the refused file published nothing
    assert {e.source for e in events} == {"crm-export"}
    assert len({e.event_id for e in events}) == 3  # the re-import repeats the ids: deduplicated downstream
    assert sorted(e.type for e in events) == sorted(["content.downloaded", "identify", "webinar.attended"] * 2)


def test_upload_endpoint_publishes_skipping_invalid_rows(kafka_settings: KafkaSettings, topics: Topics) -> None:
    app = create_app(
        IngestConfig(
            IngestSettings(write_keys=["wk-csv:backoffice"]),
            IdentitySettings(person_key_secret=SecretStr("csv-integration-secret")),
            RuntimeSettings(env="dev"),
            kafka_settings,
        ),
    )
    text = ROWS + ",,,,,Demo Requested,,\n"
    with TestClient(app) as client:
        files = {"file": ("leads.csv", text.encode(), "text/csv")}
        response = client.post("/v1/import/csv", files=files, headers=basic("wk-csv"), params={"skip_invalid": "true"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["published"], body["invalid_rows"], body["errors"][0]["row"]) == (3, 1, 5)
    records = read_topic(kafka_settings, topics.events, expect=3, timeout=30, grace_s=0.5)
    assert len(records) == 3
    assert {EngagementEvent.model_validate_json(v).source for _, v in records} == {"backoffice"}
