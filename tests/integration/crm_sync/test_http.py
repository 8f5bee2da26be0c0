"""The read API and the HTML page over a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import Engine

from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.app import create_app
from peerscore.crm_sync.config import CrmSyncConfig
from peerscore.crm_sync.handler import SyncHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES
from peerscore.crm_sync.settings import CrmSyncSettings
from peerscore.db import create_tables
from peerscore.events import LeadTransition
from peerscore.settings import ApiAuthSettings, DatabaseSettings, KafkaSettings, RuntimeSettings
from tests.unit.crm_sync.factories import transition

pytestmark = pytest.mark.integration

TOKEN = "crm-test-token-4f9a"


def sync(engine: Engine, *transitions: LeadTransition, at: datetime) -> None:
    handler = SyncHandler(
        engine, lambda s: LocalCrmAdapter(s, clock=lambda: at), CrmMetrics(CollectorRegistry()), clock=lambda: at
    )
    handler.apply(transitions)


def app_client(engine: Engine, runtime: RuntimeSettings, auth: ApiAuthSettings) -> TestClient:
    app = create_app(
        CrmSyncConfig(
            runtime=runtime,
            kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"),
            database=DatabaseSettings(database_url="sqlite://"),
            auth=auth,
            crm=CrmSyncSettings(),
        ),
        engine=engine,
        start_consumers=False,
    )
    return TestClient(app)


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    create_tables(engine, TABLES)
    sync(engine, transition("p_old", 1, email="old@example.com"), at=datetime(2025, 3, 1, tzinfo=UTC))
    sync(
        engine,
        transition(
            "p_xss",
            2,
            kind="recycled",
            email="x@example.com",
            first_name="<script>alert(1)</script>",
            reasons=("Clicked <b>bold</b> & left",),
        ),
        at=datetime(2025, 3, 2, tzinfo=UTC),
    )
    sync(engine, transition("p_new", 5, email="new@example.com"), at=datetime(2025, 3, 3, tzinfo=UTC))
    return engine


@pytest.fixture
def client(seeded: Engine) -> Iterator[TestClient]:
    with app_client(seeded, RuntimeSettings(env="dev"), ApiAuthSettings(api_token=SecretStr(""))) as c:
        yield c


def test_leads_are_listed_newest_first_with_their_reasons(client: TestClient) -> None:
    response = client.get("/v1/crm/leads")
    assert response.status_code == 200
    leads = response.json()
    assert [lead["person_key"] for lead in leads] == ["p_new", "p_xss", "p_old"]
    newest = leads[0]
    assert newest["email"] == "new@example.com"
    assert newest["name"] == "Ada Lovelace"
    assert (newest["company"], newest["score"], newest["grade"], newest["level"]) == ("Analytical", 72.5, "A", 3)
    assert (newest["status"], newest["version"]) == ("MQL", 5)
    assert newest["reasons"] == ["Visited pricing 3 times", "VP at a 500-person SaaS company"]
    assert datetime.fromisoformat(newest["synced_at"]) == datetime(2025, 3, 3, tzinfo=UTC)


def test_leads_can_be_filtered_by_status_and_limited(client: TestClient) -> None:
    recycled = client.get("/v1/crm/leads", params={"status": "Recycled"}).json()
    assert [lead["person_key"] for lead in recycled] == ["p_xss"]
    assert [lead["person_key"] for lead in client.get("/v1/crm/leads", params={"limit": 1}).json()] == ["p_new"]
    assert client.get("/v1/crm/leads", params={"status": "Won"}).status_code == 422
    assert client.get("/v1/crm/leads", params={"limit": 0}).status_code == 422


def test_one_lead_by_person_key(client: TestClient) -> None:
    lead = client.get("/v1/crm/leads/p_old").json()
    assert (lead["email"], lead["version"], lead["status"]) == ("old@example.com", 1, "MQL")
    assert client.get("/v1/crm/leads/p_nobody").status_code == 404


def test_crm_page_lists_leads_with_reasons_and_escapes_values(client: TestClient) -> None:
    response = client.get("/crm")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.index("new@example.com") < page.index("x@example.com") < page.index("old@example.com")
    assert "<li>Visited pricing 3 times</li>" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Clicked &lt;b&gt;bold&lt;/b&gt; &amp; left" in page
    assert "http" not in page.split("<body>")[0]  # no CDN assets in the head


def test_crm_page_filters_by_status(client: TestClient) -> None:
    page = client.get("/crm", params={"status": "MQL"}).text
    assert "new@example.com" in page and "x@example.com" not in page


def test_readiness_checks_the_database_only_without_a_consumer(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}
    assert "peerscore_consumer_lag" in client.get("/metrics").text


def test_outside_dev_the_api_and_page_need_the_bearer_token(seeded: Engine) -> None:
    with app_client(seeded, RuntimeSettings(env="prod"), ApiAuthSettings(api_token=SecretStr(TOKEN))) as c:
        for path in ("/v1/crm/leads", "/v1/crm/leads/p_new", "/crm"):
            assert c.get(path).status_code == 401
            assert c.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert c.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get("/v1/crm/leads").headers["www-authenticate"] == "Bearer"
        assert c.get("/healthz").status_code == 200


def test_outside_dev_an_app_without_a_token_is_refused(seeded: Engine) -> None:
    with pytest.raises(ValueError, match="PEERSCORE_API_TOKEN"):
        app_client(seeded, RuntimeSettings(env="prod"), ApiAuthSettings(api_token=SecretStr("")))
