"""End to end: a Segment-format batch in over HTTP → the lead is in the local CRM with its reasons.

Runs the three real service processes through the same ``DevStack`` that ``make run`` uses, on the embedded
broker with this test's own topics, on SQLite files or a PostgreSQL schema. Also checks that no personal data
reaches the logs or the Kafka keys.
"""

from __future__ import annotations

import random
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from peerscore.dev.replay import replay
from peerscore.dev.runner import SERVICES, DevStack
from peerscore.events import utcnow
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.kafka_helpers import read_topic
from tests.processes import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WRITE_KEY = "e2e-write-key"
HOT_EMAIL = "grace.hopper@harborlogic.example"
STUDENT_EMAIL = "kai.student@gmail.com"


def _port_offset() -> int:
    rng = random.Random()
    for _ in range(50):
        offset = rng.randrange(20000, 40000, 10)
        try:
            for svc in SERVICES:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", svc.port + offset))
            return offset
        except OSError:
            continue
    raise RuntimeError("no free port range")


def _calls() -> list[dict[str, Any]]:
    start = utcnow() - timedelta(days=2)
    hot = {"userId": "e2e-grace", "anonymousId": "anon-grace"}
    student = {"userId": "e2e-kai", "anonymousId": "anon-kai"}
    steps: list[tuple[dict[str, str], dict[str, Any]]] = [
        (
            hot,
            {
                "type": "identify",
                "traits": {
                    "email": HOT_EMAIL,
                    "firstName": "Grace",
                    "lastName": "Hopper",
                    "title": "VP of Marketing",
                    "seniority": "vp",
                    "function": "marketing",
                    "address": {"country": "US"},
                    "company": {
                        "name": "Harbor Logic",
                        "domain": "harborlogic.example",
                        "employee_count": 800,
                        "industry": "software",
                    },
                },
            },
        ),
        (hot, {"type": "page", "properties": {"path": "/pricing", "url": "https://x.example/pricing"}}),
        (hot, {"type": "track", "event": "Case Study Viewed"}),
        (
            hot,
            {
                "type": "track",
                "event": "Review Site Visited",
                "properties": {"site": "g2", "page_type": "comparison"},
            },
        ),
        (hot, {"type": "page", "properties": {"path": "/compare/peerscore-vs-legacy"}}),
        (hot, {"type": "page", "properties": {"path": "/pricing"}}),
        (hot, {"type": "track", "event": "Webinar Attended"}),
        (hot, {"type": "page", "properties": {"path": "/pricing"}}),
        (hot, {"type": "track", "event": "Demo Requested"}),
        (
            student,
            {"type": "identify", "traits": {"email": STUDENT_EMAIL, "firstName": "Kai", "title": "Student"}},
        ),
        (student, {"type": "page", "properties": {"path": "/careers"}}),
    ]
    return [
        {**who, **call, "messageId": f"e2e-{i}", "timestamp": (start + timedelta(minutes=10 * i)).isoformat()}
        for i, (who, call) in enumerate(steps)
    ]


def test_segment_batch_reaches_the_local_crm_with_reasons_and_no_personal_data_leaks(
    kafka_settings: KafkaSettings, topics: Topics, database_url: str, tmp_path: Path
) -> None:
    env = {
        "PEERSCORE_ENV": "dev",
        "KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
        "KAFKA_EVENT_PARTITIONS": str(kafka_settings.event_partitions),
        "INGEST_WRITE_KEYS": f'["{WRITE_KEY}"]',
        "SCORING_GROUP_ID": f"{kafka_settings.topic_prefix}-scoring",
        "CRM_GROUP_ID": f"{kafka_settings.topic_prefix}-crm",
    }
    if database_url.startswith("postgresql"):
        env["DATABASE_URL"] = database_url
    stack = DevStack(var=tmp_path, port_offset=_port_offset(), env=env, log_dir=tmp_path / "logs")
    try:
        stack.start_services(kafka_settings.bootstrap_servers)
        stack.wait_ready(timeout=90)

        denied = httpx.post(f"{stack.url('ingest')}/v1/batch", json={"batch": _calls()}, auth=("wrong", ""))
        assert denied.status_code == 401
        assert replay(_calls(), ingest_url=stack.url("ingest"), write_key=WRITE_KEY) == len(_calls())

        def lead_in_crm() -> dict[str, Any] | None:
            leads = httpx.get(f"{stack.url('crm-sync')}/v1/crm/leads", timeout=5).json()
            return next((lead for lead in leads if lead.get("email") == HOT_EMAIL), None)

        wait_until(lambda: lead_in_crm() is not None, 60, "the qualified lead in the local CRM", interval=0.3)
        lead = lead_in_crm()
        assert lead is not None
        assert lead["status"] == "MQL"
        assert lead["grade"] in ("A", "B")
        assert any("pricing" in reason.lower() for reason in lead["reasons"]), lead["reasons"]

        scored = httpx.get(f"{stack.url('scoring')}/v1/leads", params={"email": HOT_EMAIL}).json()
        assert len(scored) == 1 and scored[0]["qualified"] and scored[0]["reasons"]

        def student_scored() -> bool:
            found = httpx.get(f"{stack.url('scoring')}/v1/leads", params={"email": STUDENT_EMAIL}).json()
            return bool(found) and found[0]["version"] >= 2

        wait_until(student_scored, 30, "the student's events scored", interval=0.3)
        student = httpx.get(f"{stack.url('scoring')}/v1/leads", params={"email": STUDENT_EMAIL}).json()[0]
        assert not student["qualified"] and student["grade"] in ("C", "D")
        page = httpx.get(f"{stack.url('crm-sync')}/crm")
        assert page.status_code == 200 and "Harbor Logic" in page.text
    finally:
        stack.stop()

    for name, proc_log in ((p.stem, p.read_text()) for p in (tmp_path / "logs").glob("*.log")):
        assert proc_log, f"{name} wrote no logs"
        for secret in (HOT_EMAIL, STUDENT_EMAIL, "Hopper", "grace.hopper"):
            assert secret not in proc_log, f"{name} logged personal data"
    for topic in (topics.events, topics.scores, topics.qualified):
        keys = [k for k, _ in read_topic(kafka_settings, topic, expect=1, timeout=10)]
        assert keys and all(k and k.startswith("p_") and "@" not in k for k in keys), topic
