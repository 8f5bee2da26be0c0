"""Poison only PostgreSQL notices: events that decode (they pass the contract) but whose effects the database
refuses — a Segment ``groupId`` too long for the ``VARCHAR(255)`` account key, a NUL character in one — put
straight on the events topic (as a producer bypassing ingest would) among a stream of valid events.

Before the consumer loop told deterministic failures from transient ones, the first of them stalled the worker
for good: the batch was rewound and retried forever, nothing reached the dead-letter topic. Now every valid event
is scored exactly once, every poison event is in the DLQ with its reason and original bytes, and no partition is
left behind. SQLite accepts both values, so the scenario needs PostgreSQL.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from peerscore.events import AccountHints, DeadLetter, EngagementEvent
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import POSTGRES_URL
from tests.faults.support import assert_same_state, interleave, reference_snapshot, score_in_process
from tests.integration.scoring.support import journey_events
from tests.kafka_helpers import produce, read_topic

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(POSTGRES_URL is None, reason="only PostgreSQL refuses these values (TEST_DATABASE_URL)"),
]

POISON = 24


def poison_events(template: EngagementEvent) -> list[EngagementEvent]:
    """Group calls of people of their own, naming their company only by a groupId the account key cannot hold."""
    group_ids = ["g" * 300, "acme\x00corp"]
    return [
        template.model_copy(
            update={
                "event_id": f"poison-{i}",
                "type": "group",
                "name": None,
                "person_key": f"p_poison{i:02d}",
                "account": AccountHints(),
                "properties": {"group_id": group_ids[i % len(group_ids)]},
            }
        )
        for i in range(POISON)
    ]


def test_values_only_postgresql_refuses_are_dead_lettered_and_every_valid_event_is_scored_once(
    kafka_settings: KafkaSettings, topics: Topics, one_database_url: str, tmp_path: Path
) -> None:
    events = journey_events(people=300, seed=61)
    poison = poison_events(events[0])
    for event in poison:  # they pass the contract the worker decodes with: only the database can refuse them
        assert EngagementEvent.model_validate_json(event.model_dump_json()) == event
    stream = interleave(events, poison, seed=9)
    produce(kafka_settings, topics.events, [(e.person_key, e.model_dump_json().encode()) for e in stream])
    stats, got = score_in_process(kafka_settings, one_database_url, "poison-db", expect=len(stream), timeout=180)

    assert (stats.handled, stats.dead_lettered, stats.isolated) == (len(events), POISON, POISON), stats
    assert stats.retries == 0, "a value the database refuses was retried as if it could pass"
    letters = [
        DeadLetter.model_validate_json(v)
        for _, v in read_topic(kafka_settings, topics.events_dlq, expect=POISON, timeout=60, grace_s=1.0)
    ]
    assert sorted(
        EngagementEvent.model_validate_json(base64.b64decode(x.value_b64)).event_id for x in letters
    ) == sorted(e.event_id for e in poison)
    assert all(x.source == topics.events and x.offset is not None for x in letters)
    reasons = {x.reason for x in letters}
    assert all(
        r.startswith("effects failed deterministically: database refused the values: DataError") for r in reasons
    )
    assert any("StringDataRightTruncation" in r for r in reasons), reasons
    assert "p_poison00" not in got["people"], "a poison event's effects were stored"
    assert_same_state(got, reference_snapshot(events, tmp_path / "reference.db"), events)
