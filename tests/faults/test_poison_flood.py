"""A poison-message flood: 10,000 invalid records mixed into a valid stream. Every invalid one lands in the
dead-letter topic with its reason and original bytes, every valid one is scored exactly once, and the worker never
restarts or retries (a bad record is the decoder's to reject, not a reason to stop)."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

import pytest

from peerscore.events import DeadLetter
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.faults.support import assert_same_state, interleave, reference_snapshot, score_in_process
from tests.integration.scoring.support import journey_events
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
    stream = interleave(valid, invalid, seed=5)
    produce(kafka_settings, topics.events, stream)
    stats, got = score_in_process(kafka_settings, one_database_url, "poison", expect=len(stream), timeout=240)

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
