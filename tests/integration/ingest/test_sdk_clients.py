"""The real Segment and RudderStack Python SDKs, unchanged but for their host, against ingest served by uvicorn
on 127.0.0.1 with the embedded broker: their events land on the events topic (and get scored).

Each SDK runs in its default threaded mode; every test flushes it and shuts its consumer thread down.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.db import create_tables
from peerscore.events import EngagementEvent, PersonIdentifiers
from peerscore.identity import person_key
from peerscore.ingest.app import create_app
from peerscore.ingest.settings import IngestConfig, IngestSettings, LinkedInSettings
from peerscore.kafka_io import KafkaPublisher, OutgoingRecord, Publisher, make_publisher
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.models import SCORING_TABLES, PersonRow
from peerscore.settings import IdentitySettings, KafkaSettings, RuntimeSettings
from peerscore.topics import Topics
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration

SEGMENT_KEY = "wk-segment-website"
RUDDER_KEY = "wk-rudder-backend"
SECRET = "sdk-test-person-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(
    kafka: KafkaSettings, publisher: Publisher | None = None, linkedin: LinkedInSettings | None = None
) -> Iterator[str]:
    """Ingest on a real uvicorn in a thread; with ``publisher=None`` the app's lifespan owns a Kafka producer."""
    app = create_app(
        IngestConfig(
            IngestSettings(write_keys=[f"{SEGMENT_KEY}:website", f"{RUDDER_KEY}:backend"], retry_after_s=1),
            IdentitySettings(person_key_secret=SecretStr(SECRET)),
            RuntimeSettings(env="dev"),
            kafka,
            linkedin=linkedin,
        ),
        publisher=publisher,
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, name="ingest-uvicorn")
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        assert not thread.is_alive()


@contextmanager
def sdk(client: Any) -> Iterator[Any]:
    """Flush, then stop the SDK's consumer thread (no thread outlives the test)."""
    try:
        yield client
    finally:
        client.flush()
        client.join()
        assert not any(c.is_alive() for c in client.consumers)


def send_all(client: Any, user: str) -> list[str]:
    """One call of every type; returns the messageIds the SDK generated."""
    calls: list[Callable[[], tuple[bool, dict[str, Any]]]] = [
        lambda: client.identify(
            user,
            {
                "email": f"{user}@harbor-logic.example",
                "title": "VP of Marketing",
                "company": {"name": "Harbor Logic", "domain": "harbor-logic.example", "employee_count": 800},
            },
        ),
        lambda: client.track(user, "Case Study Viewed", {"slug": "acme"}),
        lambda: client.page(user, "Docs", "Pricing", {"path": "/pricing", "url": "https://x.example/pricing"}),
        lambda: client.screen(user, "App", "Home"),
        lambda: client.group(
            user, "acct-9", {"name": "Harbor Logic", "domain": "harbor-logic.example", "employees": 800}
        ),
        lambda: client.alias(f"anon-{user}", user),
    ]
    ids = []
    for call in calls:
        ok, msg = call()
        assert ok
        ids.append(msg["messageId"])
    return ids


def events_on(kafka: KafkaSettings, topic: str, expect: int) -> list[EngagementEvent]:
    records = read_topic(kafka, topic, expect=expect, timeout=30, grace_s=0.5)
    return [EngagementEvent.model_validate_json(value) for _, value in records]


def check_every_type(events: Sequence[EngagementEvent], ids: list[str], source: str) -> None:
    assert [e.event_id for e in events] == ids  # one person: one partition, in order
    assert [e.type for e in events] == [
        "identify",
        "case_study.viewed",
        "page.viewed",
        "screen.viewed",
        "group",
        "alias",
    ]
    assert {e.source for e in events} == {source}
    assert len({e.person_key for e in events}) == 1
    identify, group = events[0], events[4]
    assert (identify.person.email, identify.account.domain) == ("ada@harbor-logic.example", "harbor-logic.example")
    assert (group.properties["group_id"], group.account.name, group.account.employees) == (
        "acct-9",
        "Harbor Logic",
        800,
    )
    assert events[5].properties == {"previous_id": "anon-ada"}


def test_segment_sdk_events_arrive_on_the_events_topic(kafka_settings: KafkaSettings, topics: Topics) -> None:
    errors: list[Exception] = []
    with serve(kafka_settings) as url:
        client = SegmentClient(SEGMENT_KEY, host=url, upload_interval=0.05, on_error=lambda e, _b: errors.append(e))
        with sdk(client):
            ids = send_all(client, "ada")
    assert errors == []
    check_every_type(events_on(kafka_settings, topics.events, len(ids)), ids, "website")


def test_rudderstack_sdk_gzip_without_body_key(kafka_settings: KafkaSettings, topics: Topics) -> None:
    errors: list[Exception] = []
    with serve(kafka_settings) as url:
        client = RudderClient(RUDDER_KEY, host=url, upload_interval=0.05, on_error=lambda e, _b: errors.append(e))
        assert client.gzip  # RudderStack's default: gzip bodies, Basic auth only
        with sdk(client):
            ids = send_all(client, "ada")
    assert errors == []
    check_every_type(events_on(kafka_settings, topics.events, len(ids)), ids, "backend")


class FailsOnce:
    """The first publish fails (ingest answers 503 + Retry-After), later ones reach the real broker."""

    def __init__(self, inner: KafkaPublisher) -> None:
        self.inner = inner
        self.failures = 0

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        if self.failures == 0:
            self.failures += 1
            raise TimeoutError("simulated missing acknowledgement")
        self.inner.publish(records, wait=wait)

    def flush(self, timeout: float | None = None) -> None:
        self.inner.flush(timeout)


def test_an_sdk_retry_keeps_the_message_ids(
    kafka_settings: KafkaSettings, topics: Topics, publisher: KafkaPublisher
) -> None:
    flaky = FailsOnce(publisher)
    with serve(kafka_settings, publisher=flaky) as url:
        client = SegmentClient(SEGMENT_KEY, host=url, upload_interval=0.05, gzip=True)
        with sdk(client):
            sent = [client.track("bo", "Webinar Attended", {"n": n})[1]["messageId"] for n in range(3)]
    assert flaky.failures == 1
    events = events_on(kafka_settings, topics.events, len(sent))
    assert sorted(e.event_id for e in events) == sorted(sent)  # the retried batch, same ids, once each


def test_segment_sdk_events_get_scored(kafka_settings: KafkaSettings, topics: Topics, engine: Engine) -> None:
    with serve(kafka_settings) as url:
        client = SegmentClient(SEGMENT_KEY, host=url, upload_interval=0.05)
        with sdk(client):
            ids = send_all(client, "ada")
            for _ in range(3):
                client.page("ada", properties={"path": "/pricing"})
            client.track("ada", "Demo Requested")
    expected = len(ids) + 4
    create_tables(engine, SCORING_TABLES)
    ruleset = load_default_ruleset()
    worker_publisher = make_publisher(kafka_settings, "scoring")
    try:
        loop = scoring_loop(
            kafka_settings,
            engine=engine,
            ruleset=lambda: ruleset,
            publisher=worker_publisher,
            group_id=f"{kafka_settings.topic_prefix}-scoring",
            registry=CollectorRegistry(),
            poll_timeout_ms=200,
        )
        loop.run(max_messages=expected, timeout=90)
    finally:
        worker_publisher.close()
    assert loop.stats.handled == expected
    key = person_key(PersonIdentifiers(user_id="ada"), SECRET.encode())
    with Session(engine) as session:
        person = session.get(PersonRow, key)
    assert person is not None and person.version >= 1 and person.total > 0
    scores = read_topic(kafka_settings, topics.scores, expect=1, timeout=30)
    assert key in {k for k, _ in scores}
