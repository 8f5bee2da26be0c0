"""The pipeline's invariant: anything ingest accepts, the workers apply (or dead-letter) — never retry forever.

Hypothesis generates Segment calls with extreme but valid values — strings at and around every limit, any
Unicode (NUL included, which ingest must refuse), huge and odd numbers, deeply nested properties, odd
timestamps — and sends the accepted ones through the scoring worker's handler inside the real consumer loop, then
the leads they make through crm-sync's handler with the local CRM, on SQLite and PostgreSQL (which, unlike
SQLite, enforces column lengths and refuses NUL). Every accepted event must be applied: a dead letter here
means ingest accepted something its own tables cannot hold; a retry means a worker would have stalled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore import limits
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.handler import SyncHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES as CRM_TABLES
from peerscore.db import create_tables
from peerscore.events import EngagementEvent, LeadTransition
from peerscore.ingest.errors import InvalidEvent
from peerscore.ingest.normalise import normalise_call
from peerscore.scoring import store
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.domain.state import lead_contact
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES
from peerscore.topics import Topics
from tests.in_memory_kafka import InMemoryConsumer, RecordingPublisher, run_loop

pytestmark = pytest.mark.integration

SECRET = b"invariant-secret"
RECEIVED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RULESET = load_default_ruleset()

letters = st.characters(exclude_categories=("Cs",))  # any code point UTF-8 can carry, NUL and RTL marks included
LIMITS = (limits.COUNTRY, limits.PERSON_NAME, limits.GROUP_ID, limits.IDENTIFIER, limits.EMAIL)
edge_lengths = sorted({0, 1, 2, 400} | {n + d for n in LIMITS for d in (-1, 0, 1)})


def text_around_limits() -> st.SearchStrategy[str]:
    return st.sampled_from(edge_lengths).flatmap(lambda n: st.text(letters, min_size=n, max_size=n)) | st.text(letters)


def domains() -> st.SearchStrategy[str]:
    label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True) | st.just("bücher")
    long_names = st.builds(
        lambda n, k: ".".join(["a" * k] * n) + ".io", st.integers(1, 8), st.sampled_from([1, 62, 63])
    )
    return st.lists(label, min_size=2, max_size=6).map(".".join) | long_names | text_around_limits()


numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -0.0, 1e308, 5e-324, 2**63, -(2**63) - 1, "999999999999999999999999"])
)
scalars = st.none() | st.booleans() | numbers | text_around_limits()


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = {f"l{level}": value} if level % 2 else [value]
    return value


properties = st.dictionaries(
    st.text(letters, max_size=20),
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=8,
    )
    | st.integers(min_value=1, max_value=30).map(nested),
    max_size=4,
)
timestamps = st.datetimes(  # hypothesis takes naive bounds and attaches the zone itself
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda d: d.isoformat())
traits = st.fixed_dictionaries(
    {},
    optional={
        "email": st.builds(lambda local, domain: f"{local}@{domain}", text_around_limits(), domains()),
        "firstName": text_around_limits(),
        "lastName": text_around_limits(),
        "title": text_around_limits(),
        "seniority": text_around_limits(),
        "department": text_around_limits(),
        "country": text_around_limits(),
        "website": domains(),
        "company": text_around_limits()
        | st.fixed_dictionaries(
            {},
            optional={
                "name": text_around_limits(),
                "domain": domains(),
                "employees": numbers,
                "industry": text_around_limits(),
            },
        ),
        "unsubscribed": st.booleans(),
    },
)
ids = st.uuids().map(str) | st.integers(min_value=0, max_value=2**64) | text_around_limits()
calls = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["identify", "track", "group", "page"]),
        "userId": ids,
        "traits": traits,
        "properties": properties,
        "event": st.sampled_from(["Demo Requested", "Pricing Viewed", "Webinar Attended"]) | text_around_limits(),
        "groupId": ids,
    },
    optional={"messageId": ids, "timestamp": timestamps, "anonymousId": ids},
)


def accepted(batch: list[dict[str, Any]]) -> list[EngagementEvent]:
    events = []
    for call in batch:
        try:
            events.append(normalise_call(call, secret=SECRET, received_at=RECEIVED))
        except InvalidEvent:
            continue  # refused with a 400: the invariant is about what ingest lets in
    return events


def score(engine: Engine, events: list[EngagementEvent], run: int) -> list[LeadTransition]:
    """The scoring handler in the real loop; then the lead every touched person would be synced as."""
    handler = ScoringHandler(
        engine=engine,
        ruleset=lambda: RULESET,
        topics=Topics(prefix=f"inv{run}"),
        publisher=RecordingPublisher(),
        group_id=f"inv{run}",
        metrics=ScoringMetrics(CollectorRegistry()),
    )
    logs = {TopicPartition("events", 0): [e.model_dump_json().encode() for e in events]}
    dead = RecordingPublisher()
    stats, waits = run_loop(InMemoryConsumer(logs), handler, dead, len(events))
    assert [letter.reason for letter in dead.letters()] == [], "ingest accepted what scoring cannot store"
    assert (stats.handled, stats.retries, waits) == (len(events), 0, [])
    with Session(engine) as session:
        people = store.load_people(session, {e.person_key for e in events})
        accounts = store.load_accounts(session, {p.account_key for p, _ in people.values() if p.account_key})
    return [
        LeadTransition(
            kind="qualified",
            person_key=key,
            contact=lead_contact(person, accounts.get(person.account_key or "")),
            score=last,
            transitioned_at=last.as_of,
        )
        for key, (person, last) in people.items()
        if last is not None and person.email is not None
    ]


def sync(engine: Engine, leads: list[LeadTransition]) -> None:
    handler = SyncHandler(engine, lambda session: LocalCrmAdapter(session), CrmMetrics(CollectorRegistry()))
    logs = {TopicPartition("qualified", 0): [t.model_dump_json().encode() for t in leads]}
    dead = RecordingPublisher()
    stats, waits = run_loop(InMemoryConsumer(logs), handler, dead, len(leads))
    assert [letter.reason for letter in dead.letters()] == [], "a lead scoring produced cannot be stored by crm-sync"
    assert (stats.handled, stats.retries, waits) == (len(leads), 0, [])


def test_every_event_ingest_accepts_is_applied_by_scoring_and_crm_sync(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    create_tables(engine, CRM_TABLES)
    runs = iter(range(10**6))
    seen_accepted: list[int] = []

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(batch=st.lists(calls, min_size=1, max_size=5))
    def check(batch: list[dict[str, Any]]) -> None:
        events = accepted(batch)
        seen_accepted.append(len(events))
        if events:
            sync(engine, score(engine, events, next(runs)))

    check()
    assert sum(seen_accepted) > 20, "the generator should mostly produce calls ingest accepts"
