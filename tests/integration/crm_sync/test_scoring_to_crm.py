"""The issue's symptom, end to end on the embedded broker: the local CRM showed the score a lead had at handoff
while the lead API had moved on. The real scoring worker and crm-sync loop run side by side (both databases); after
the MQL is in the CRM, new activity reaches its CRM record within the coalescing delay."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.consumer import ConsumerLoop
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.domain.freshness import UpdatePolicy
from peerscore.crm_sync.handler import SyncHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES, CrmLead
from peerscore.db import create_tables
from peerscore.events import LeadScore
from peerscore.kafka_io import KafkaPublisher, make_consumer, make_publisher
from peerscore.observability import ConsumerMetrics
from peerscore.runtime import BackgroundLoop
from peerscore.scoring import store
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.models import SCORING_TABLES
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.test_scoring_worker import produce_events
from tests.processes import wait_until
from tests.unit.scoring.builders import T0, days, event, small_ruleset

pytestmark = pytest.mark.integration

COALESCE_S = 1.0


def test_the_crm_record_catches_up_with_the_lead_api(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher
) -> None:
    create_tables(engine, SCORING_TABLES + TABLES)
    rules = small_ruleset()
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
    group = unique("crm-sync")
    registry = CollectorRegistry()
    crm = ConsumerLoop(
        consumer=make_consumer(kafka_settings, group),
        topics=[topics.qualified],
        handler=SyncHandler(
            engine, LocalCrmAdapter, CrmMetrics(registry), policy=UpdatePolicy(coalesce_s=COALESCE_S, min_score_delta=5)
        ),
        dlq_topic=topics.qualified_dlq,
        publisher=publisher,
        metrics=ConsumerMetrics(registry, group),
        poll_timeout_ms=100,
    )
    loops = [BackgroundLoop(scoring, "scoring"), BackgroundLoop(crm, "crm-sync")]
    for loop in loops:
        loop.start()

    def crm_row() -> CrmLead | None:
        with Session(engine) as session:
            return session.get(CrmLead, "p_hot")

    def api_score() -> LeadScore | None:
        with Session(engine) as session:
            return store.load_people(session, ["p_hot"]).get("p_hot", (None, None))[1]

    try:
        produce_events(
            kafka_settings,
            topics.events,
            [
                event("identify", T0, person="p_hot", email="hot@acme.com", traits={"seniority": "vp"}),
                event("demo.requested", T0 + days(0.1), person="p_hot"),
            ],
        )
        wait_until(lambda: crm_row() is not None, 60, "the MQL in the local CRM", interval=0.1)
        handoff = crm_row()
        assert handoff is not None and handoff.status == "MQL"
        later = [event("webinar.attended", T0 + days(0.2 + i / 100), person="p_hot") for i in range(3)]
        later.append(event("page.viewed", T0 + days(0.3), person="p_hot", url="/pricing"))
        produce_events(kafka_settings, topics.events, later)
        scored = time.monotonic()
        wait_until(
            lambda: (s := api_score()) is not None and s.version == 6, 60, "the new activity scored", interval=0.1
        )

        def caught_up() -> bool:
            row, score = crm_row(), api_score()
            return row is not None and score is not None and (row.version, row.score) == (score.version, score.total)

        wait_until(caught_up, 30, "the CRM record at the lead API's score", interval=0.1)
        lag = time.monotonic() - scored
    finally:
        for loop in loops:
            loop.stop()
        scoring_publisher.close()
    row, score = crm_row(), api_score()
    assert row is not None and score is not None
    assert row.score > handoff.score and row.status == "MQL" and row.qualified_at == handoff.qualified_at
    assert row.groups == score.groups and row.reasons == score.reasons
    assert lag <= COALESCE_S + 10, f"{lag:.1f}s"
