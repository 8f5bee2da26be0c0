"""MQL alerts on the real embedded broker and database: a qualified transition becomes exactly one Slack message
with its reasons (redelivered duplicates, updates and recycles add nothing), and replaying the whole topic in a
new consumer group sends nothing again: the alert ledger remembers every transition it alerted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.consumer import ConsumerLoop
from peerscore.crm_sync import alert_ledger
from peerscore.crm_sync.alert_settings import AlertSettings
from peerscore.crm_sync.consumers import alert_loop
from peerscore.crm_sync.metrics import AlertMetrics
from peerscore.crm_sync.models import TABLES
from peerscore.db import create_tables
from peerscore.events import LeadTransition
from peerscore.kafka_io import KafkaPublisher, OutgoingRecord, record
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from peerscore_testkit.fake_chat import SLACK_PATH, TEAMS_PATH, chat_server, messages
from peerscore_testkit.fake_servers import FakeServer
from tests.conftest import unique
from tests.unit.crm_sync.factories import transition

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with chat_server() as s:
        yield s


def loop(
    kafka_settings: KafkaSettings, engine: Engine, publisher: KafkaPublisher, server: FakeServer, client: httpx.Client
) -> ConsumerLoop[LeadTransition]:
    settings = AlertSettings(
        destinations=[
            {"name": "sales", "kind": "slack", "url": server.url + SLACK_PATH},
            {"name": "dach", "kind": "teams", "url": server.url + TEAMS_PATH, "territories": ["DE", "AT"]},
        ],
        console_base_url="https://peerscore.example.com",
    )
    return alert_loop(
        kafka=kafka_settings,
        group_id=unique("alerts"),
        engine=engine,
        publisher=publisher,
        alerts=settings,
        metrics=AlertMetrics(CollectorRegistry()),
        client=client,
    )


def test_each_mql_is_one_slack_message_with_its_reasons_and_a_replay_sends_nothing(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher, server: FakeServer
) -> None:
    create_tables(engine, TABLES)
    ada = transition("p_ada", 2, reasons=("Viewed pricing 3× in 7 days", "Requested a demo"), country="DE")
    ada = ada.model_copy(update={"active_colleagues": 2, "contact": ada.contact.model_copy(update={"domain": "a.io"})})
    bob = transition("p_bob", 5, email="bob@example.com", reasons=("Compared us with a competitor",))
    records = [
        record(topics.qualified, "p_ada", ada),
        record(topics.qualified, "p_ada", ada),  # the producer retried: a redelivered duplicate
        record(topics.qualified, "p_ada", transition("p_ada", 3, kind="updated")),
        record(topics.qualified, "p_bob", bob),
        record(topics.qualified, "p_cy", transition("p_cy", 4, kind="recycled")),
        OutgoingRecord(topics.qualified, "p_bad", b"{not json"),
    ]
    started = time.monotonic()
    publisher.publish(records, wait=True)
    with httpx.Client(timeout=5.0) as client:
        stats = loop(kafka_settings, engine, publisher, server, client).run(max_messages=6, timeout=60)
        latency = time.monotonic() - started
        assert (stats.handled, stats.dead_lettered) == (5, 1)

        slack = messages(server)
        assert len(slack) == 2
        by_lead = {
            m["blocks"][-1]["elements"][0]["url"].rsplit("/", 1)[1]: json.dumps(m, ensure_ascii=False) for m in slack
        }
        assert set(by_lead) == {"p_ada", "p_bob"}
        assert "Viewed pricing 3× in 7 days" in by_lead["p_ada"] and "Requested a demo" in by_lead["p_ada"]
        assert "2 colleagues at a.io active recently" in by_lead["p_ada"]
        assert "Compared us with a competitor" in by_lead["p_bob"]
        assert all("@example.com" not in text for text in by_lead.values())
        assert len(messages(server, TEAMS_PATH)) == 1  # only Ada is in the DACH territory
        with Session(engine) as session:
            assert alert_ledger.counts(session) == {("sales", "sent"): 2, ("dach", "sent"): 1}
        print(f"transition → Slack: 3 alerts in {latency:.2f} s, group join included")

        again = loop(kafka_settings, engine, publisher, server, client).run(max_messages=6, timeout=60)
        assert again.handled == 5
    assert len(messages(server)) == 2 and len(messages(server, TEAMS_PATH)) == 1
