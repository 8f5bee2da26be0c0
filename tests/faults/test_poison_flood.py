"""A poison-message flood: 10,000 invalid records mixed into a valid stream. Every invalid one lands in the
dead-letter topic with its reason and original bytes, every valid one is scored exactly once, and the worker never
restarts or retries (a bad record is the decoder's to reject, not a reason to stop)."""

from __future__ import annotations

import base64
import random
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from peerscore.db import make_engine
from peerscore.events import DeadLetter
from peerscore.kafka_io import make_publisher
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.worker import scoring_loop
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.faults.support import assert_same_state, reference_snapshot, scoring_tables
from tests.integration.scoring.support import journey_events, snapshot
from tests.kafka_helpers import produce, read_topic

pytestmark = [pytest.mark.faults]

INVALID = 10_000


def poison(i: int) -> tuple[str, bytes | None]:
    """Four kinds of garbage a producer bug or an attacker could write to the topic."""
    kinds: list[bytes | None] = [
        b"\x00\xff not json at all %d" % i,
        b'{"type": "page.viewed", "n": %d}' % i,  # JSON, but not an event
        b'{"schema_version": 1, "event_id": "x%d", "type": 7}' % i,  # wrong types
        None,  # a tombstone
    ]
    return f"p_poison{i % 97}", kinds[i % len(kinds)]


def test_ten_thousand_invalid_records_all_dead_lettered_all_valid_scored_no_restart(
    kafka_settings: KafkaSettings, topics: Topics, one_database_url: str, tmp_path: Path
) -> None:
    events = journey_events(people=300, seed=47)
    valid: list[tuple[str, bytes | None]] = [(e.person_key, e.model_dump_json().encode()) for e in events]
    invalid = [poison(i) for i in range(INVALID)]
    # Random positions for the poison; the valid events keep their order (per-key order is Kafka's promise).
    slots = [True] * len(valid) + [False] * INVALID
    random.Random(5).shuffle(slots)
    good, bad = iter(valid), iter(invalid)
    stream = [next(good) if is_valid else next(bad) for is_valid in slots]
    produce(kafka_settings, topics.events, stream)

    engine = make_engine(one_database_url)
    scoring_tables(engine)
    publisher = make_publisher(kafka_settings, "poison")
    ruleset = load_default_ruleset()
    try:
        loop = scoring_loop(
            kafka_settings,
            engine=engine,
            ruleset=lambda: ruleset,
            publisher=publisher,
            group_id=unique("poison"),
            registry=CollectorRegistry(),
            poll_timeout_ms=200,
        )
        stats = loop.run(max_messages=len(stream), timeout=240)
        got = snapshot(engine)
    finally:
        publisher.close()
        engine.dispose()

    assert (stats.handled, stats.dead_lettered) == (len(events), INVALID)
    assert stats.retries == 0, "a poison record made the worker retry"
    dead = read_topic(kafka_settings, topics.events_dlq, expect=INVALID, timeout=120, grace_s=1.0)
    letters = [DeadLetter.model_validate_json(v) for _, v in dead]
    assert len(letters) == INVALID
    assert all(letter.reason and letter.source == topics.events for letter in letters)
    originals = Counter(base64.b64decode(letter.value_b64) for letter in letters)
    assert originals == Counter(value or b"" for _, value in invalid)
    reasons = Counter(letter.reason.split(":")[0] for letter in letters)
    assert set(reasons) >= {"empty record value", "not an EngagementEvent"}, reasons
    assert_same_state(got, reference_snapshot(events, tmp_path / "reference.db"), events)
