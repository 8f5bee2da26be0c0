"""crm-sync against a misbehaving HubSpot (the strict local server, through the real SDK) on the real embedded
broker: an outage of 5xx and 429 under a stream of leads, then recovery; and the retry budget → CRM dead-letter
topic → ``peerscore crm replay`` → delivered once."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from peerscore.cli import app as cli
from peerscore.consumer import Backoff, ConsumerLoop
from peerscore.crm_sync.budget import RetryBudget
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES, SyncLedger
from peerscore.crm_sync.worker import DeadLetterSink, SyncHandler
from peerscore.db import create_tables
from peerscore.events import LeadTransition
from peerscore.kafka_io import KafkaPublisher, make_consumer, record
from peerscore.observability import ConsumerMetrics
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_servers import HUBSPOT_TOKEN, FakeServer, Fault
from tests.conftest import unique
from tests.kafka_helpers import read_topic
from tests.processes import wait_until
from tests.unit.crm_sync.factories import transition
from tests.unit.crm_sync.harness import hubspot_adapter

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with hubspot_server() as s:
        yield s


def start_loop(
    kafka_settings: KafkaSettings,
    topics: Topics,
    engine: Engine,
    server: FakeServer,
    publisher: KafkaPublisher,
    budget: RetryBudget,
) -> tuple[ConsumerLoop[LeadTransition], threading.Thread]:
    group = unique("crm-sync")
    adapter = hubspot_adapter(server.url)
    handler = SyncHandler(
        engine,
        lambda _s: adapter,
        CrmMetrics(CollectorRegistry()),
        dead_letters=DeadLetterSink(publisher, topics.crm_dlq, budget),
    )
    loop: ConsumerLoop[LeadTransition] = ConsumerLoop(
        consumer=make_consumer(kafka_settings, group),
        topics=[topics.qualified],
        handler=handler,
        dlq_topic=topics.qualified_dlq,
        publisher=publisher,
        metrics=ConsumerMetrics(CollectorRegistry(), group),
        poll_timeout_ms=100,
        backoff=Backoff(initial_s=0.1, maximum_s=1.0),
    )
    thread = threading.Thread(target=loop.run, kwargs={"timeout": 120}, daemon=True)
    thread.start()
    return loop, thread


def versions_accepted(server: FakeServer) -> list[tuple[str, int]]:
    with server.state.lock:
        return [(email, int(v)) for email, v in server.state.accepted]


def test_outage_of_5xx_and_429_then_recovery_delivers_every_lead_once_newest_last(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, server: FakeServer, publisher: KafkaPublisher
) -> None:
    create_tables(engine, TABLES)
    faults = itertools.cycle(
        [
            Fault(503, {}, {"message": "Service Unavailable"}),
            Fault(429, {"Retry-After": "1"}, {"message": "You have reached your secondly limit."}),
        ]
    )
    outage = threading.Event()
    outage.set()
    server.state.refuse = lambda: next(faults) if outage.is_set() else None
    loop, thread = start_loop(kafka_settings, topics, engine, server, publisher, RetryBudget(1000, 3600))
    try:
        newest: dict[str, int] = {}
        for wave in range(1, 4):  # three versions per lead, produced while the CRM refuses everything
            batch = [transition(f"p_{i:02d}", wave, email=f"p_{i:02d}@example.com") for i in range(40)]
            publisher.publish([record(topics.qualified, t.person_key, t) for t in batch], wait=True)
            newest |= {t.contact.email or "": wave for t in batch}
            time.sleep(1.0)
        assert versions_accepted(server) == []  # nothing got through the outage
        outage.clear()
        wait_until(
            lambda: {e: v for e, v in versions_accepted(server)} == newest, 60, "every lead at its newest version"
        )
        time.sleep(1.0)  # any duplicate would arrive now
    finally:
        loop.stop()
        thread.join(30)
    accepted = versions_accepted(server)
    assert max(Counter(accepted).values()) == 1, "a lead version reached the CRM twice"
    last: dict[str, int] = {}
    for email, version in accepted:
        assert version > last.get(email, 0), f"{email}: version {version} after {last.get(email)}"
        last[email] = version
    assert last == newest and server.state.throttled == 0


def test_retry_budget_dead_letters_then_crm_replay_delivers_once(
    kafka_settings: KafkaSettings,
    topics: Topics,
    engine: Engine,
    database_url: str,
    server: FakeServer,
    publisher: KafkaPublisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_tables(engine, TABLES)
    server.state.refuse = lambda: Fault(500, {}, {"message": "internal error"})
    loop, thread = start_loop(kafka_settings, topics, engine, server, publisher, RetryBudget(3, 3600))
    leads = [transition(f"p_{i}", 2, email=f"p_{i}@example.com") for i in range(5)]
    try:
        publisher.publish([record(topics.qualified, t.person_key, t) for t in leads], wait=True)
        letters = read_topic(kafka_settings, topics.crm_dlq, expect=5, timeout=60)
    finally:
        loop.stop()
        thread.join(30)
    assert sorted(key or "" for key, _ in letters) == [t.person_key for t in leads]
    with Session(engine) as session:
        assert {r.status for r in session.exec(select(SyncLedger))} == {"dlq"}
    assert versions_accepted(server) == []

    server.state.refuse = None  # the CRM is back
    env = {
        "PEERSCORE_ENV": "dev",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
        "DATABASE_URL": database_url,
        "CRM_ADAPTER": "hubspot",
        "HUBSPOT_HOST": server.url,
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    first = CliRunner().invoke(cli, ["crm", "replay", "--idle", "1.5"])
    assert first.exit_code == 0, first.output
    assert "5 synced" in first.output
    second = CliRunner().invoke(cli, ["crm", "replay", "--idle", "1.5"])
    assert second.exit_code == 0 and "0 synced, 5 already synced" in second.output, second.output
    assert sorted(versions_accepted(server)) == [(f"p_{i}@example.com", 2) for i in range(5)]
    with Session(engine) as session:
        assert {r.status for r in session.exec(select(SyncLedger))} == {"ok"}
