"""Consent in the worker: an opt-out recycles the lead with a withheld score, events while opted out are neither
scored nor kept, and opting back in scores again. Both databases; the published records are checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.consumer import Message
from peerscore.db import create_tables
from peerscore.events import AccountHints, EngagementEvent, LeadScore, LeadTransition, PersonTraits, utcnow
from peerscore.scoring.domain import load_default_ruleset
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES, LedgerRow
from peerscore.topics import Topics
from tests.integration.scoring.test_identity_chains import Log

pytestmark = pytest.mark.integration

TOPICS = Topics(prefix="consent", event_partitions=1)


def evt(event_id: str, type_: str, minutes: int, **consent: bool) -> EngagementEvent:
    at = utcnow() - timedelta(hours=1) + timedelta(minutes=minutes)
    return EngagementEvent(
        event_id=event_id,
        type=type_,
        source="test",
        person_key="p_c",
        occurred_at=at,
        received_at=at,
        traits=PersonTraits(title="VP of Marketing", seniority="vp", function="marketing")
        if type_ == "identify"
        else PersonTraits(),
        account=AccountHints(domain="acme.example", employees=900),
        properties={"path": "/pricing"},
        consent=consent,
    )


def test_opted_out_people_are_not_scored_until_they_opt_back_in(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    log = Log(TOPICS.events)
    ruleset = load_default_ruleset()
    registry = CollectorRegistry()
    handler = ScoringHandler(
        engine=engine,
        ruleset=lambda: ruleset,
        topics=TOPICS,
        publisher=log,
        group_id="consent",
        metrics=ScoringMetrics(registry),
    )
    script = [
        [evt("i1", "identify", 0), evt("d1", "demo.requested", 1), evt("t1", "trial.started", 2)],
        [evt("i2", "identify", 3, unsubscribed=True)],
        [evt("p1", "page.viewed", 4), evt("d2", "demo.requested", 5)],
        [evt("p2", "page.viewed", 6, opted_out=False)],
    ]
    offset = 0
    for events in script:
        handler.handle([Message(TOPICS.events, 0, offset + i, e.person_key, e, 0) for i, e in enumerate(events)])
        offset += len(events)

    transitions = [LeadTransition.model_validate_json(r.value) for r in log.published if r.topic == TOPICS.qualified]
    scores = [LeadScore.model_validate_json(r.value) for r in log.published if r.topic == TOPICS.scores]
    assert [t.kind for t in transitions][:2] == ["qualified", "recycled"]
    assert transitions[1].score.withheld == "opted_out" and transitions[1].score.total == 0
    assert [s.withheld for s in scores] == [None, "opted_out", None]
    assert scores[-1].total > 0, "opting back in scores again, with the points earned before"
    assert registry.get_sample_value("peerscore_scoring_consent_withheld_events_total") == 2
    with Session(engine) as session:
        history = {r.event.split('"event_id":"')[1].split('"')[0] for r in session.exec(select(EventHistoryRow))}
        ledger = {r.event_id for r in session.exec(select(LedgerRow))}
    assert not {"p1", "d2"} & (history | ledger), "events while opted out leave no trace"
    assert "p2" in history
