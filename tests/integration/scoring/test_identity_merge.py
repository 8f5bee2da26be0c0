"""Identity merges through Kafka: anonymous visits, then identify, then more anonymous visits → one person.

Real embedded broker and both databases; the events come from the real Segment normaliser. The merge takes three
hops on the events topic (identify → merge instruction keyed by the anonymous key → transfer keyed by the user
key), and events that arrive for the anonymous key afterwards are forwarded and counted once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.db import create_tables
from peerscore.events import EngagementEvent, PersonIdentifiers, PersonMerged, utcnow
from peerscore.identity import identifier_keys
from peerscore.ingest.normalise import normalise_batch
from peerscore.kafka_io import make_publisher
from peerscore.scoring.domain import PersonState, load_default_ruleset, score_person
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.identity.batch import PrivacyConfig
from peerscore.scoring.identity.models import IdentityLinkRow, SeenEventRow
from peerscore.scoring.models import SCORING_TABLES, LedgerRow, PersonRow
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.support import END, SECRET
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration

ANON = "anon-7f3a"
USER = "user-42"
EMAIL = "ada@acme.example"


def calls_to_events(calls: list[dict[str, Any]]) -> list[EngagementEvent]:
    # Received now: the seen-id rows must be within the dedup window, or the worker prunes them.
    return normalise_batch({"batch": calls}, secret=SECRET, received_at=utcnow())


def page(message_id: str, path: str, minutes: int) -> dict[str, Any]:
    at = (END - timedelta(days=1) + timedelta(minutes=minutes)).isoformat()
    return {"type": "page", "messageId": message_id, "anonymousId": ANON, "timestamp": at, "properties": {"path": path}}


def identify(minutes: int) -> dict[str, Any]:
    at = (END - timedelta(days=1) + timedelta(minutes=minutes)).isoformat()
    traits = {"email": EMAIL, "title": "VP of Marketing", "company": {"name": "Acme", "domain": "acme.example"}}
    return {
        "type": "identify",
        "messageId": "m-identify",
        "userId": USER,
        "anonymousId": ANON,
        "timestamp": at,
        "traits": traits,
    }


def run(settings: KafkaSettings, engine: Engine, group: str, registry: CollectorRegistry, expect: int) -> int:
    publisher = make_publisher(settings)
    ruleset = load_default_ruleset()
    try:
        loop = scoring_loop(
            settings,
            engine=engine,
            ruleset=lambda: ruleset,
            publisher=publisher,
            group_id=group,
            registry=registry,
            poll_timeout_ms=200,
            privacy=PrivacyConfig(secret=SECRET),
        )
        return loop.run(max_messages=expect, timeout=60).handled
    finally:
        publisher.close()


def produce_events(settings: KafkaSettings, topic: str, events: list[EngagementEvent]) -> None:
    produce(settings, topic, [(e.person_key, e.model_dump_json().encode()) for e in events])


def test_anonymous_activity_counts_for_the_person_once_they_identify(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine
) -> None:
    create_tables(engine, SCORING_TABLES)
    ranked = dict((rank, key) for rank, key in identifier_keys(PersonIdentifiers(user_id=USER, email=EMAIL), SECRET))
    user_key = ranked[3]
    email_key = ranked[2]
    anon_key = identifier_keys(PersonIdentifiers(anonymous_id=ANON), SECRET)[0][1]
    before = calls_to_events([page("a1", "/pricing", 0), page("a2", "/pricing", 5), page("a3", "/demo", 9)])
    produce_events(kafka_settings, topics.events, [*before, *calls_to_events([identify(12)])])
    group = unique("scoring")

    # 3 pages + identify, 2 merge instructions (anonymous and email keys), 1 transfer (the email key was empty).
    assert run(kafka_settings, engine, group, CollectorRegistry(), expect=7) == 7

    with Session(engine) as session:
        keys = {r.person_key for r in session.exec(select(PersonRow)).all()}
        links = {r.person_key: r.merged_into for r in session.exec(select(IdentityLinkRow)).all()}
    assert keys == {user_key}
    assert links == {anon_key: user_key, email_key: user_key}
    # crm-sync hears of the merge that moved state (keys only; the empty email key moved nothing).
    notices = [PersonMerged.model_validate_json(v) for _, v in read_topic(kafka_settings, topics.merges, expect=1)]
    assert [(n.source_key, n.target_key) for n in notices] == [(anon_key, user_key)]

    # After the merge: a new anonymous page, and a redelivery of a page the person had before identifying.
    later = calls_to_events([page("a4", "/pricing", 20), page("a1", "/pricing", 0)])
    produce_events(kafka_settings, topics.events, later)
    # Both are forwarded from the anonymous key (2), then applied or recognised as a duplicate (2).
    registry = CollectorRegistry()
    assert run(kafka_settings, engine, group, registry, expect=4) == 4

    ruleset = load_default_ruleset()
    with Session(engine) as session:
        row = session.exec(select(PersonRow)).one()
        ledger = session.exec(select(LedgerRow)).all()
        seen = {(r.person_key, r.event_id) for r in session.exec(select(SeenEventRow)).all()}
    person = PersonState.model_validate(row.state)
    assert row.person_key == user_key and row.email == EMAIL
    assert {r.person_key for r in ledger} == {user_key}, "the anonymous ledger moved with the person"
    awarded = {r.event_id for r in ledger}
    assert {"a1", "a2", "a3", "a4", "m-identify"} <= awarded
    assert sum(1 for r in ledger if r.event_id == "a1") == 1, "the redelivered page counted once"
    assert registry.get_sample_value("peerscore_scoring_duplicate_events_total") == 1
    assert {(user_key, e) for e in ("a1", "a2", "a3", "a4", "m-identify")} <= seen
    assert person.version == 1 + (3 + 1) + 1, "identify, the transfer of 3 anonymous pages (+1), then a4"

    # ledger = score for the merged person, decayed to a later time.
    as_of = END + timedelta(days=5)
    score = score_person(person, None, ruleset, as_of)
    for group_name, spec in ruleset.groups.items():
        half_life = spec.half_life_days
        total = sum(
            r.points * (1.0 if half_life is None else 0.5 ** ((as_of - r.occurred_at) / timedelta(days=half_life)))
            for r in ledger
            if r.group == group_name
        )
        expected = max(0.0, min(total, spec.cap)) if spec.cap is not None else max(0.0, total)
        assert score.groups[group_name] == pytest.approx(expected, abs=0.011), group_name
    assert score.engagement > 0
