"""Durable dedup: an event id is applied once per person within the window, in one batch, across batches and
across worker restarts, also long after the person state's short list of recent ids forgot it. Both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from peerscore.consumer import Message
from peerscore.db import create_tables
from peerscore.events import EngagementEvent, utcnow
from peerscore.scoring.domain import PersonState, load_default_ruleset
from peerscore.scoring.domain.state import RECENT_EVENT_IDS
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.identity.batch import PrivacyConfig
from peerscore.scoring.identity.dedup import prune_seen
from peerscore.scoring.identity.models import SeenEventRow
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES, PersonRow
from peerscore.topics import Topics
from tests.integration.scoring.test_identity_chains import Log

pytestmark = pytest.mark.integration

TOPICS = Topics(prefix="dedup", event_partitions=1)


def page(event_id: str, received_days_ago: float = 0) -> EngagementEvent:
    at = utcnow() - timedelta(days=received_days_ago)
    return EngagementEvent(
        event_id=event_id,
        type="page.viewed",
        source="test",
        person_key="p_dedup",
        occurred_at=at,
        received_at=at,
        properties={"path": "/pricing"},
    )


def worker(engine: Engine, registry: CollectorRegistry) -> ScoringHandler:
    """A fresh handler (a restarted worker): nothing carried over in memory."""
    ruleset = load_default_ruleset()
    return ScoringHandler(
        engine=engine,
        ruleset=lambda: ruleset,
        topics=TOPICS,
        publisher=Log(TOPICS.events),
        group_id="dedup",
        metrics=ScoringMetrics(registry),
        privacy=PrivacyConfig(dedup_window=timedelta(days=7)),
    )


def version(engine: Engine) -> int:
    with Session(engine) as session:
        return PersonState.model_validate(session.exec(select(PersonRow.state)).one()).version


def test_duplicates_in_one_batch_across_batches_and_restarts(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    offset = iter(range(10_000))

    def batch(*events: EngagementEvent) -> list[Message[EngagementEvent]]:
        return [Message(TOPICS.events, 0, next(offset), e.person_key, e, 0) for e in events]

    first = CollectorRegistry()
    worker(engine, first).handle(batch(page("e-0"), page("e-1"), page("e-0")))
    assert version(engine) == 2
    assert first.get_sample_value("peerscore_scoring_duplicate_events_total") == 1

    # More distinct events than the state remembers, then a restart and a redelivery of the very first one.
    many = [page(f"e-{i}") for i in range(2, RECENT_EVENT_IDS + 10)]
    worker(engine, CollectorRegistry()).handle(batch(*many))
    with Session(engine) as session:
        state = PersonState.model_validate(session.exec(select(PersonRow.state)).one())
    assert "e-0" not in state.recent_event_ids, "the state's own list has forgotten e-0"
    applied = version(engine)

    restarted = CollectorRegistry()
    worker(engine, restarted).handle(batch(page("e-0"), page("e-1")))
    assert version(engine) == applied, "the seen-events table still knows them"
    assert restarted.get_sample_value("peerscore_scoring_duplicate_events_total") == 2


def test_seen_ids_are_kept_for_the_window_only(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    handler = worker(engine, CollectorRegistry())
    events = [page("old", received_days_ago=30), page("recent", received_days_ago=1)]
    handler.handle([Message(TOPICS.events, 0, i, e.person_key, e, 0) for i, e in enumerate(events)])
    with Session(engine) as session, session.begin():
        # The first batch already pruned: only the recent id is left; pruning again removes nothing.
        assert {r.event_id for r in session.exec(select(SeenEventRow)).all()} == {"recent"}
        assert prune_seen(session, utcnow() - timedelta(days=7)) == 0
        assert session.exec(select(func.count()).select_from(SeenEventRow)).one() == 1
