"""The scoring read API over a worker's real state: leads, their ledger, accounts, and bearer auth."""

from __future__ import annotations

import pytest
import structlog
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from peerscore.scoring.app import ScoringConfig, create_app
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import ApiAuthSettings, DatabaseSettings, KafkaSettings, RuntimeSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.support import journey_events
from tests.integration.scoring.test_scoring_worker import produce_events, run_scoring

pytestmark = pytest.mark.integration
TOKEN = "integration-api-token"


def client(kafka_settings: KafkaSettings, engine: Engine, env: str = "prod") -> TestClient:
    config = ScoringConfig(
        runtime=RuntimeSettings(env=env),  # type: ignore[arg-type]
        kafka=kafka_settings,
        database=DatabaseSettings(database_url=str(engine.url)),
        scoring=ScoringSettings(),
        auth=ApiAuthSettings(api_token=SecretStr(TOKEN)),
    )
    return TestClient(create_app(config, engine=engine, start_consumers=False))


def test_leads_ledger_and_accounts_explain_the_scores(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine
) -> None:
    events = journey_events(people=45, seed=31)
    produce_events(kafka_settings, topics.events, events)
    run_scoring(kafka_settings, engine, unique("scoring"), expect=len(events))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with client(kafka_settings, engine) as api:
        assert api.get("/v1/leads").status_code == 401
        assert api.get("/v1/accounts").status_code == 401

        leads = api.get("/v1/leads", params={"qualified": True}, headers=auth).json()
        assert leads and all(lead["qualified"] and lead["reasons"] for lead in leads)
        top = leads[0]
        # The email travels in the body, not the URL (where proxies and access logs keep it).
        by_email = api.post("/v1/leads/search", json={"email": top["email"].upper()}, headers=auth)
        assert by_email.status_code == 200 and "deprecation" not in by_email.headers
        assert [lead["person_key"] for lead in by_email.json()] == [top["person_key"]]
        assert api.post("/v1/leads/search", json={"email": top["email"], "emial": 1}, headers=auth).status_code == 422
        # The old form still answers for one release, marked deprecated (and logged without the email).
        with structlog.testing.capture_logs() as logs:
            old = api.get("/v1/leads", params={"email": top["email"].upper()}, headers=auth)
        assert [lead["person_key"] for lead in old.json()] == [top["person_key"]]
        assert old.headers["deprecation"] == "true" and "/v1/leads/search" in old.headers["link"]
        warned = [e for e in logs if e["event"] == "email_in_url_deprecated"]
        assert warned and top["email"] not in str(warned)
        assert "deprecation" not in api.get("/v1/leads", headers=auth).headers
        ledger = api.get(f"/v1/leads/{top['person_key']}/ledger", headers=auth).json()
        assert ledger and {row["group"] for row in ledger} >= {"fit", "engagement"}
        assert api.get("/v1/leads/p_nobody", headers=auth).status_code == 404

        accounts = api.get("/v1/accounts", headers=auth).json()
        assert accounts and accounts[0]["people"] >= 1
        account = api.get(f"/v1/accounts/{top['account_key']}", headers=auth).json()
        assert top["person_key"] in account["top_people"]
        assert account["stage"] in ("engaged", "mqa") and account["reasons"]
        assert api.get("/v1/accounts/nobody.example", headers=auth).status_code == 404
