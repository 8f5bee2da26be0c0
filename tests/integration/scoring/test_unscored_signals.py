"""The unscored-signal report end to end: an event no rule names, sent through the real Segment SDK, reaches
scoring and is listed by ``GET /v1/signals/unscored`` with its count; its senders' rows go with an erasure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry
from segment.analytics import Client as SegmentClient  # type: ignore[import-untyped]
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.db import create_tables
from peerscore.events import EngagementEvent, PersonIdentifiers, utcnow
from peerscore.identity import person_key
from peerscore.kafka_io import make_publisher
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.identity.erasure import erase_keys
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.signals import UnscoredSignalPersonRow, record_unscored, unscored_report
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.integration.ingest.test_sdk_clients import SECRET, SEGMENT_KEY, sdk, serve
from tests.integration.scoring.test_api import TOKEN, client

pytestmark = pytest.mark.integration
UNKNOWN = "Quarterly Review Booked"


def test_an_unknown_sdk_event_is_listed_with_its_count(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine
) -> None:
    with serve(kafka_settings) as url:
        segment = SegmentClient(SEGMENT_KEY, host=url, upload_interval=0.05)
        with sdk(segment):
            segment.identify("ada", {"email": "ada@harbor-logic.example", "title": "VP of Marketing"})
            for n in range(3):
                segment.track("ada", UNKNOWN, {"quarter": n, "owner_email": "secret@x.example"})
            segment.track("bo", UNKNOWN)
            segment.track("ada", "Demo Requested")
            segment.page("ada", properties={"path": "/pricing"})
    expected = 7
    create_tables(engine, SCORING_TABLES)
    ruleset = load_default_ruleset()
    worker_publisher = make_publisher(kafka_settings, "scoring")
    registry = CollectorRegistry()
    try:
        loop = scoring_loop(
            kafka_settings,
            engine=engine,
            ruleset=lambda: ruleset,
            publisher=worker_publisher,
            group_id=f"{kafka_settings.topic_prefix}-scoring",
            registry=registry,
            poll_timeout_ms=200,
        )
        loop.run(max_messages=expected, timeout=90)
    finally:
        worker_publisher.close()
    assert loop.stats.handled == expected
    assert registry.get_sample_value("peerscore_scoring_unscored_share") == pytest.approx(4 / 6)
    with client(kafka_settings, engine) as api:
        assert api.get("/v1/signals/unscored").status_code == 401
        answer = api.get("/v1/signals/unscored", params={"days": 30}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["days"] == 30
    assert report["events"] == 6  # the identify call is a profile, not a signal
    listed = {(s["type"], s["name"]): s for s in report["signals"]}
    assert list(listed) == [("quarterly_review.booked", UNKNOWN)]  # the demo request and the pricing view scored
    signal = listed[("quarterly_review.booked", UNKNOWN)]
    assert (signal["events"], signal["people"], signal["source"], signal["page"]) == (4, 2, "website", "")
    assert signal["share"] == pytest.approx(4 / 6)
    assert report["unscored_share"] == pytest.approx(4 / 6)
    assert signal["examples"] == ["properties owner_email, quarter"]
    assert "secret@" not in answer.text


def _event(n: int, key: str, name: str = UNKNOWN) -> EngagementEvent:
    at = utcnow()
    return EngagementEvent(
        event_id=f"e{n}",
        type="quarterly_review.booked",
        name=name,
        source="website",
        person_key=key,
        occurred_at=at,
        received_at=at,
        properties={"path": f"/reviews/{n}0123"},
    )


def test_counts_add_up_across_batches_and_erasure_removes_the_senders(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    ruleset = load_default_ruleset()
    ada = person_key(PersonIdentifiers(user_id="ada"), SECRET.encode())
    assert ada is not None
    with Session(engine) as session, session.begin():
        assert record_unscored(session, ruleset, [_event(1, ada), _event(2, "bo")]) == (2, 2)
    with Session(engine) as session, session.begin():
        assert record_unscored(session, ruleset, [_event(3, ada)]) == (1, 1)
    with Session(engine) as session:
        report = unscored_report(session, today=datetime.now(UTC).date(), days=1)
    [signal] = report.signals
    assert (signal.events, signal.people, signal.examples) == (3, 2, ["path /reviews/:id"])
    with Session(engine) as session, session.begin():
        deleted = erase_keys(session, ada, [])
    assert deleted["unscored_signal_person"] == 1
    with Session(engine) as session:
        left = session.exec(select(UnscoredSignalPersonRow.person_key)).all()
        assert left == ["bo"]
        [signal] = unscored_report(session, today=datetime.now(UTC).date(), days=1).signals
    assert (signal.events, signal.people) == (3, 1)  # anonymous counts stay
