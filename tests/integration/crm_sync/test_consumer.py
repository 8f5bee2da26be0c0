"""crm-sync on the real embedded broker: produced transitions reach the local CRM once each, at their newest
version; garbage goes to the DLQ; replaying the whole topic with a new group changes nothing."""

from __future__ import annotations

import base64

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.consumer import ConsumerLoop
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.handler import SyncHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES, CrmLead, SyncLedger
from peerscore.db import create_tables
from peerscore.events import DeadLetter, LeadTransition
from peerscore.kafka_io import KafkaPublisher, OutgoingRecord, make_consumer, record
from peerscore.observability import ConsumerMetrics
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.kafka_helpers import read_topic
from tests.unit.crm_sync.factories import transition

pytestmark = pytest.mark.integration

GARBAGE = b'{"kind": "qualified", "person_key": "p_garbage"'


def make_loop(
    kafka_settings: KafkaSettings,
    topics: Topics,
    engine: Engine,
    registry: CollectorRegistry,
    publisher: KafkaPublisher,
) -> ConsumerLoop[LeadTransition]:
    group = unique("crm-sync")
    return ConsumerLoop(
        consumer=make_consumer(kafka_settings, group),
        topics=[topics.qualified],
        handler=SyncHandler(engine, LocalCrmAdapter, CrmMetrics(registry)),
        dlq_topic=topics.qualified_dlq,
        publisher=publisher,
        metrics=ConsumerMetrics(registry, group),
        poll_timeout_ms=200,
    )


def crm_state(engine: Engine) -> dict[str, tuple[int, str, list[str], str]]:
    with Session(engine) as session:
        rows = session.exec(select(CrmLead)).all()
        return {r.person_key: (r.version, r.status, r.reasons, r.synced_at.isoformat()) for r in rows}


def test_transitions_reach_the_crm_once_at_their_newest_version(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher
) -> None:
    create_tables(engine, TABLES)
    ada_v2 = transition("p_ada", 2, reasons=("Pricing page x3", "Requested a demo"))
    bob_v1 = transition("p_bob", 1, kind="recycled", email="bob@example.com", reasons=("Quiet for 30 days",))
    records = [
        record(topics.qualified, "p_ada", transition("p_ada", 1)),
        record(topics.qualified, "p_ada", ada_v2),
        record(topics.qualified, "p_ada", ada_v2),  # the producer retried: a redelivered duplicate
        record(topics.qualified, "p_bob", bob_v1),
        OutgoingRecord(topics.qualified, "p_garbage", GARBAGE),
    ]
    publisher.publish(records, wait=True)

    stats = make_loop(kafka_settings, topics, engine, CollectorRegistry(), publisher).run(max_messages=5, timeout=60)

    assert (stats.handled, stats.dead_lettered) == (4, 1)
    state = crm_state(engine)
    assert {key: value[:3] for key, value in state.items()} == {
        "p_ada": (2, "MQL", ["Pricing page x3", "Requested a demo"]),
        "p_bob": (1, "Recycled", ["Quiet for 30 days"]),
    }
    with Session(engine) as session:
        ledger = {(r.crm, r.person_key): (r.last_version, r.status) for r in session.exec(select(SyncLedger))}
    assert ledger == {("local", "p_ada"): (2, "ok"), ("local", "p_bob"): (1, "ok")}

    [(key, value)] = read_topic(kafka_settings, topics.qualified_dlq, expect=1)
    letter = DeadLetter.model_validate_json(value)
    assert key == "p_garbage"
    assert letter.reason.startswith("not a LeadTransition")
    assert (letter.source, base64.b64decode(letter.value_b64)) == (topics.qualified, GARBAGE)

    # A replay of the whole topic (new group, from the earliest offset) must not touch a single CRM row.
    registry = CollectorRegistry()
    replay = make_loop(kafka_settings, topics, engine, registry, publisher).run(max_messages=5, timeout=60)
    assert replay.handled == 4
    assert crm_state(engine) == state
    assert registry.get_sample_value("peerscore_crm_skipped_duplicates_total", {"crm": "local"}) == 4
    assert registry.get_sample_value("peerscore_crm_upserts_total", {"crm": "local", "result": "ok"}) == 0
