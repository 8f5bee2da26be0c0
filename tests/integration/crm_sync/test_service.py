"""``python -m peerscore.crm_sync`` as a real process: ready, syncs a produced lead, drains on SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from peerscore.crm_sync.models import CrmLead, SyncLedger
from peerscore.db import make_engine
from peerscore.dev.broker import free_port
from peerscore.kafka_io import make_publisher, record
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.processes import start_service, stop, wait_ready, wait_until
from tests.unit.crm_sync.factories import transition

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_service_syncs_leads_and_stops_cleanly(kafka_settings: KafkaSettings, topics: Topics, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = tmp_path / "crm.db"
    proc = start_service(
        "peerscore.crm_sync",
        {
            "PEERSCORE_ENV": "dev",
            "HTTP_PORT": str(port),
            "DATABASE_URL": f"sqlite:///{database}",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
            "KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
            "KAFKA_EVENT_PARTITIONS": str(kafka_settings.event_partitions),
            "CRM_GROUP_ID": unique("crm-sync"),
        },
        tmp_path / "crm-sync.log",
    )
    try:
        wait_ready(base, proc)
        assert httpx.get(f"{base}/readyz").json()["checks"] == {"database": "ok", "broker": "ok", "consumer": "ok"}
        publisher = make_publisher(kafka_settings, "test")
        try:
            publisher.publish([record(topics.qualified, "p_ada", transition("p_ada", 3))])
        finally:
            publisher.close()

        def lead_synced() -> bool:
            return any(lead["person_key"] == "p_ada" for lead in httpx.get(f"{base}/v1/crm/leads").json())

        wait_until(lead_synced, 60, "the lead in the local CRM", interval=0.2)
        metrics = httpx.get(f"{base}/metrics").text
        assert 'peerscore_crm_upserts_total{crm="local",result="ok"} 1.0' in metrics
    finally:
        code = stop(proc)
    log = (tmp_path / "crm-sync.log").read_text()
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete, so "killed by SIGTERM" is a clean exit.
    assert code in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log
    assert "consumer_loop_crashed" not in log and "consumer_loop_did_not_stop" not in log
    assert "ada@example.com" not in log  # logs carry person keys, never contact data

    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            assert [(r.person_key, r.version) for r in session.exec(select(CrmLead))] == [("p_ada", 3)]
            assert [(r.person_key, r.status) for r in session.exec(select(SyncLedger))] == [("p_ada", "ok")]
    finally:
        engine.dispose()
