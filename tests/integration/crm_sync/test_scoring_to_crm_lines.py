"""Product lines end to end on the embedded broker: the real scoring worker and crm-sync loop (both databases).

A two-line ruleset qualifies a lead for one line only; the local CRM record shows both lines, each with its own
status, while the lead as a whole is not an MQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.consumer import ConsumerLoop
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.handler import SyncHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES, CrmLead
from peerscore.db import create_tables
from peerscore.kafka_io import KafkaPublisher, make_consumer, make_publisher
from peerscore.observability import ConsumerMetrics
from peerscore.runtime import BackgroundLoop
from peerscore.scoring import store
from peerscore.scoring.domain import Ruleset, parse_ruleset
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.models import SCORING_TABLES
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.test_scoring_worker import produce_events
from tests.processes import wait_until
from tests.unit.scoring.builders import T0, days, event
from tests.unit.scoring.test_product_lines import two_lines

pytestmark = pytest.mark.integration


@contextmanager
def scoring_and_crm(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher, rules: Ruleset
) -> Iterator[None]:
    """The scoring worker and crm-sync's loop on the local CRM, running until the block ends."""
    create_tables(engine, SCORING_TABLES + TABLES)
    scoring_publisher = make_publisher(kafka_settings, "scoring")
    scoring = scoring_loop(
        kafka_settings,
        engine=engine,
        ruleset=lambda: rules,
        publisher=scoring_publisher,
        group_id=unique("scoring"),
        registry=CollectorRegistry(),
        poll_timeout_ms=100,
    )
    group, registry = unique("crm-sync"), CollectorRegistry()
    crm = ConsumerLoop(
        consumer=make_consumer(kafka_settings, group),
        topics=[topics.qualified],
        handler=SyncHandler(engine, LocalCrmAdapter, CrmMetrics(registry)),
        dlq_topic=topics.qualified_dlq,
        publisher=publisher,
        metrics=ConsumerMetrics(registry, group),
        poll_timeout_ms=100,
    )
    loops = [BackgroundLoop(scoring, "scoring"), BackgroundLoop(crm, "crm-sync")]
    for loop in loops:
        loop.start()
    try:
        yield
    finally:
        for loop in loops:
            loop.stop()
        scoring_publisher.close()


def test_a_lead_qualified_for_one_line_shows_both_lines_in_the_crm(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher
) -> None:
    def crm_row() -> CrmLead | None:
        with Session(engine) as session:
            return session.get(CrmLead, "p_line")

    with scoring_and_crm(kafka_settings, topics, engine, publisher, parse_ruleset(two_lines())):
        produce_events(
            kafka_settings,
            topics.events,
            [
                event("identify", T0, person="p_line", email="line@acme.com", traits={"seniority": "vp"}),
                event("webinar.attended", T0 + days(0.1), person="p_line"),
                event("webinar.attended", T0 + days(0.2), person="p_line"),
            ],
        )
        wait_until(lambda: crm_row() is not None, 60, "the line's MQL in the local CRM", interval=0.1)
    row = crm_row()
    assert row is not None
    assert (row.status, row.qualified_at) == ("Open", None)  # not an MQL as a whole
    assert row.lines == {
        "core": {"score": 45.0, "grade": "B", "status": "Open"},
        "x": {"score": 65.0, "grade": "B", "status": "MQL"},
    }
    with Session(engine) as session:
        person, score = store.load_people(session, ["p_line"])["p_line"]
    assert person.qualified_lines == ["x"] and not person.qualified
    assert score is not None and score.lines["x"].qualified and not score.lines["core"].qualified
