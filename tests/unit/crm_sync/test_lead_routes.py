"""Permanent failures and dead letters are visible in the API (``/v1/crm/failures``, ``/v1/crm/leads/{key}/sync``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from peerscore.crm_sync.adapters.fake import FakeCrmAdapter
from peerscore.crm_sync.app import create_app
from peerscore.crm_sync.budget import RetryBudget
from peerscore.crm_sync.config import CrmSyncConfig
from peerscore.crm_sync.handler import DeadLetterSink, SyncHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.settings import ApiAuthSettings, DatabaseSettings, KafkaSettings, RuntimeSettings
from tests.unit.crm_sync.factories import batch, transition
from tests.unit.crm_sync.recording import RecordingPublisher

NOW = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)


def test_refused_and_dead_lettered_leads_are_listed_with_the_crms_message(crm_engine: Engine) -> None:
    fake = FakeCrmAdapter(permanent_failures={"p_bad": "INVALID_EMAIL: bounced"}, retryable_failures={"p_down": "503"})
    registry = CollectorRegistry()
    sink = DeadLetterSink(RecordingPublisher(), "dlq", RetryBudget(max_attempts=1))
    handler = SyncHandler(crm_engine, lambda _s: fake, CrmMetrics(registry), clock=lambda: NOW, dead_letters=sink)
    handler.handle(
        batch(
            transition("p_bad", 2), transition("p_down", 5), transition("p_ok", 1), transition("p_anon", 1, email=None)
        )
    )
    app = create_app(
        CrmSyncConfig(
            runtime=RuntimeSettings(env="dev"),
            kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"),
            database=DatabaseSettings(database_url="sqlite://"),
            auth=ApiAuthSettings(),
        ),
        engine=crm_engine,
        start_consumers=False,
    )
    with TestClient(app) as client:
        failures = client.get("/v1/crm/failures").json()
        sync = client.get("/v1/crm/leads/p_bad/sync").json()
        assert client.get("/v1/crm/failures", params={"crm": "hubspot"}).json() == []
        for source in ("hubspot", "salesforce", "webhook"):  # no secret configured: nobody is accepted
            assert client.post(f"/v1/crm/outcomes/{source}", content=b"[]").status_code == 404
    assert sorted((f["person_key"], f["status"], f["error"], f["last_version"]) for f in failures) == [
        ("p_anon", "failed", "missing email", 1),
        ("p_bad", "failed", "INVALID_EMAIL: bounced", 2),
        ("p_down", "dlq", "503", 5),
    ]
    assert [(s["crm"], s["status"]) for s in sync] == [("fake", "failed")]
    assert registry.get_sample_value("peerscore_crm_upserts_total", {"crm": "fake", "result": "failed"}) == 2
    assert registry.get_sample_value("peerscore_crm_dead_lettered_total", {"crm": "fake"}) == 1
