"""SIGKILL crm-sync again and again while MQL alerts flow to a Slack-compatible webhook: afterwards every MQL was
alerted, once — a kill can re-send at most the one alert whose post was in flight (Slack takes no idempotency
key: see :mod:`peerscore.crm_sync.alerts`), and the ledger says every alert was sent. Then the steady-state
latency from publishing a transition to Slack taking its alert."""

from __future__ import annotations

import json
import random
import signal
import statistics
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from peerscore.crm_sync import alert_ledger
from peerscore.db import make_engine
from peerscore.dev.broker import free_port
from peerscore.kafka_io import Publisher, make_publisher, record
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from peerscore_testkit.fake_chat import SLACK_PATH, arrivals, chat_server
from peerscore_testkit.fake_servers import FakeServer
from tests.conftest import unique
from tests.processes import start_service, stop, wait_ready, wait_until
from tests.unit.crm_sync.factories import transition

pytestmark = [pytest.mark.faults]

MQLS = 300
KILLS = 3
TIMED = 20


def _lead(payload: dict[str, object]) -> str:
    return json.dumps(payload).rsplit("/console/leads/", 1)[1].split('"', 1)[0]


def _alerted(server: FakeServer) -> Counter[str]:
    return Counter(_lead(payload) for payload, _ in arrivals(server, SLACK_PATH))


def test_crm_sync_sigkilled_while_alerting_every_mql_is_alerted_once(
    kafka_settings: KafkaSettings, topics: Topics, one_database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "crm-sync.log"
    with chat_server() as server:
        server.state.extra["delay_s"] = 0.01  # Slack answers in tens of milliseconds: kills land mid-post too
        env = _env(kafka_settings, one_database_url, server.url + SLACK_PATH)
        publisher = make_publisher(kafka_settings, "fault-alerts")
        try:
            mqls = [transition(f"p_{i:04d}", 2, reasons=(f"Reason of lead {i}",)) for i in range(MQLS)]
            noise = [transition(f"p_{i:04d}", 3, kind="updated") for i in range(0, MQLS, 3)]
            publisher.publish([record(topics.qualified, t.person_key, t) for t in mqls + noise], wait=True)

            rng = random.Random(20)
            for point in sorted(rng.sample(range(30, MQLS - 30), KILLS)):
                proc = start_service("peerscore.crm_sync", {**env, "HTTP_PORT": str(free_port())}, log)
                try:
                    wait_until(lambda p=point: sum(_alerted(server).values()) >= p, 180, f"{point} alerts")
                    time.sleep(rng.uniform(0.0, 0.05))  # anywhere: before, during or after a post
                finally:
                    stop(proc, signal.SIGKILL)
                assert len(_alerted(server)) < MQLS, "each kill must land before every MQL is alerted"

            port = free_port()
            proc = start_service("peerscore.crm_sync", {**env, "HTTP_PORT": str(port)}, log)
            try:
                wait_until(lambda: len(_alerted(server)) == MQLS, 180, "every MQL alerted")
                wait_ready(f"http://127.0.0.1:{port}", proc)
                checks = httpx.get(f"http://127.0.0.1:{port}/readyz").json()["checks"]
                assert checks["consumer"] == "ok"  # the alerts loop is part of readiness
                latencies = _timed_alerts(server, publisher, topics)
                time.sleep(1.0)  # a late duplicate would arrive now
                metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            finally:
                assert stop(proc, signal.SIGTERM) in (0, -signal.SIGTERM)
        finally:
            publisher.close()
        alerted = _alerted(server)
        texts = {_lead(payload): json.dumps(payload, ensure_ascii=False) for payload, _ in arrivals(server)}

    assert set(alerted) == {t.person_key for t in mqls} | {f"p_t{i:03d}" for i in range(TIMED)}
    duplicates = sum(n - 1 for n in alerted.values())
    print(
        f"{MQLS + TIMED} MQLs, {KILLS} SIGKILLs: {sum(alerted.values())} Slack messages, {duplicates} duplicate(s); "
        f"publish → Slack p50 {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    assert duplicates <= KILLS, "more re-sends than posts in flight when the kills landed"
    assert all(f"Reason of lead {int(t.person_key[2:])}" in texts[t.person_key] for t in mqls)
    assert 'peerscore_alerts_total{kind="slack",result="sent"}' in metrics
    assert "@example.com" not in log.read_text()
    engine = make_engine(one_database_url)
    try:
        with Session(engine) as session:
            assert alert_ledger.counts(session) == {("sales", "sent"): MQLS + TIMED}
    finally:
        engine.dispose()


def _timed_alerts(server: FakeServer, publisher: Publisher, topics: Topics) -> list[float]:
    """One MQL at a time on the running service: seconds from the broker's ack to Slack taking the alert."""
    latencies = []
    for i in range(TIMED):
        t = transition(f"p_t{i:03d}", 1)
        sent = time.time()
        publisher.publish([record(topics.qualified, t.person_key, t)], wait=True)
        wait_until(lambda k=t.person_key: k in _alerted(server), 30, "the timed alert", interval=0.005)
        latencies.append(next(at for p, at in arrivals(server) if _lead(p) == t.person_key) - sent)
    return latencies


def _env(kafka: KafkaSettings, database_url: str, slack_url: str) -> dict[str, str]:
    destinations = [{"name": "sales", "kind": "slack", "url": slack_url}]
    return {
        "PEERSCORE_ENV": "dev",
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_EVENT_PARTITIONS": str(kafka.event_partitions),
        "KAFKA_MAX_POLL_RECORDS": "50",
        "DATABASE_URL": database_url,
        "CRM_GROUP_ID": unique("crm-alerts-killed"),
        "ALERTS_DESTINATIONS": json.dumps(destinations),
        "ALERTS_CONSOLE_BASE_URL": "https://peerscore.example.com",
    }
