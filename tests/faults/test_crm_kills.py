"""SIGKILL crm-sync mid-batch, again and again, while leads flow to a HubSpot-compatible server: afterwards every
qualified lead is in the CRM exactly once, at its newest version, and the ledger agrees."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from peerscore.crm_sync.models import SyncLedger
from peerscore.db import make_engine
from peerscore.dev.broker import free_port
from peerscore.kafka_io import make_publisher, record
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from peerscore_testkit.fake_hubspot import _route
from peerscore_testkit.fake_servers import HUBSPOT_TOKEN, FakeServer, _Handler
from tests.conftest import unique
from tests.processes import start_service, stop, wait_until
from tests.unit.crm_sync.factories import transition

pytestmark = [pytest.mark.faults]

LEADS = 400
VERSIONS = 2


def slow_route(h: _Handler, raw: bytes) -> None:
    """Every CRM call takes a while, so the kills land between the CRM's answer and the ledger commit too."""
    time.sleep(0.15)
    _route(h, raw)


def test_crm_sync_sigkilled_mid_batch_every_lead_in_the_crm_exactly_once(
    kafka_settings: KafkaSettings, topics: Topics, one_database_url: str, tmp_path: Path
) -> None:
    newest = {f"lead{i:04d}@example.com": VERSIONS for i in range(LEADS)}
    env = {
        "PEERSCORE_ENV": "dev",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
        "KAFKA_EVENT_PARTITIONS": str(kafka_settings.event_partitions),
        "KAFKA_MAX_POLL_RECORDS": "150",
        "DATABASE_URL": one_database_url,
        "CRM_GROUP_ID": unique("crm-killed"),
        "CRM_ADAPTER": "hubspot",
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
    }
    log = tmp_path / "crm-sync.log"
    with FakeServer(slow_route) as server:
        env["HUBSPOT_HOST"] = server.url

        def accepted() -> int:
            with server.state.lock:
                return len(server.state.accepted)

        def all_synced() -> bool:
            with server.state.lock:
                return {e: int(r.get("peerscore_version", 0)) for e, r in server.state.records.items()} == newest

        publisher = make_publisher(kafka_settings, "fault-leads")
        try:
            for version in range(1, VERSIONS + 1):
                leads = [transition(f"p_{i:04d}", version, email=f"lead{i:04d}@example.com") for i in range(LEADS)]
                publisher.publish([record(topics.qualified, t.person_key, t) for t in leads], wait=True)
        finally:
            publisher.close()

        rng = random.Random(77)
        for point in sorted(rng.sample(range(50, LEADS), 3)):
            proc = start_service("peerscore.crm_sync", {**env, "HTTP_PORT": str(free_port())}, log)
            try:
                wait_until(lambda p=point: accepted() >= p, 180, f"{point} upserts accepted by the CRM")
                time.sleep(rng.uniform(0.0, 0.3))  # anywhere in the batch: before, during or after a CRM call
            finally:
                stop(proc, signal.SIGKILL)
            assert not all_synced(), "each kill must land before every lead is synced"

        proc = start_service("peerscore.crm_sync", {**env, "HTTP_PORT": str(free_port())}, log)
        try:
            wait_until(all_synced, 180, "every lead at its newest version in the CRM")
            time.sleep(1.0)  # a late duplicate would arrive now
        finally:
            assert stop(proc, signal.SIGTERM) in (0, -signal.SIGTERM)
        with server.state.lock:
            records = dict(server.state.records)
            sends = Counter(server.state.accepted)

    assert set(records) == set(newest), "a lead is missing from the CRM or one is there that should not be"
    assert len({r["_id"] for r in records.values()}) == LEADS, "a lead was created twice"
    assert all(int(r["peerscore_version"]) == VERSIONS for r in records.values())
    # A kill between the CRM's answer and the ledger commit re-sends that batch (an idempotent upsert by email);
    # without kills every version would be sent once.
    resent = sum(n - 1 for n in sends.values())
    print(f"CRM upserts {sum(sends.values())} for {LEADS * VERSIONS} lead versions ({resent} re-sent after kills)")
    assert resent <= 3 * 150, f"{resent} re-sends: more than the killed batches"
    engine = make_engine(one_database_url)
    try:
        with Session(engine) as session:
            ledger = session.exec(select(SyncLedger)).all()
    finally:
        engine.dispose()
    assert len(ledger) == LEADS and {(r.status, r.last_version) for r in ledger} == {("ok", VERSIONS)}
