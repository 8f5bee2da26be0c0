"""What the failure suite shares: sizes, the reference fold, a streaming producer, service environments.

Sizes are chosen so the whole suite stays within a few minutes on a 2-core machine next to the embedded broker;
``FAULTS_PEOPLE`` scales the streaming scenarios up (about 7 events per generated person: 14,300 people ≈ 100k
events).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from peerscore.consumer import LoopStats, Message
from peerscore.db import create_tables, make_engine
from peerscore.events import EngagementEvent
from peerscore.kafka_io import OutgoingRecord, make_publisher
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.support import snapshot

STREAM_PEOPLE = int(os.environ.get("FAULTS_PEOPLE", "2500"))
"""People in the streaming scenarios (≈ 7 events each)."""


class DiscardingPublisher:
    """The reference fold's outputs go nowhere: only the state it derives is compared."""

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        return None

    def flush(self, timeout: float | None = None) -> None:
        return None


def reference_snapshot(events: Sequence[EngagementEvent], path: Path) -> dict[str, Any]:
    """The uninterrupted result: the same handler applied in-process to the events in order, no Kafka, no crash."""
    engine = make_engine(f"sqlite:///{path}")
    try:
        create_tables(engine, SCORING_TABLES)
        ruleset = load_default_ruleset()
        handler = ScoringHandler(
            engine=engine,
            ruleset=lambda: ruleset,
            topics=Topics(prefix="reference"),
            publisher=DiscardingPublisher(),
            group_id="reference",
            metrics=ScoringMetrics(CollectorRegistry()),
        )
        messages = [Message("reference", 0, i, e.person_key, e, 0) for i, e in enumerate(events)]
        for start in range(0, len(messages), 2000):
            handler.handle(messages[start : start + 2000])
        return snapshot(engine)
    finally:
        engine.dispose()


def assert_same_state(got: dict[str, Any], expected: dict[str, Any], events: Sequence[EngagementEvent]) -> None:
    """Identical people, ledger and account activity; every distinct event applied exactly once."""
    distinct = len({e.event_id for e in events})
    assert sum(version for version, *_ in got["people"].values()) == distinct, "an event was lost or counted twice"
    assert got["people"].keys() == expected["people"].keys()
    differing = [k for k in expected["people"] if got["people"][k] != expected["people"][k]]
    assert not differing, (
        f"{len(differing)} people differ, e.g. {differing[0]}: {got['people'][differing[0]]} != "
        f"{expected['people'][differing[0]]}"
    )
    assert got["ledger"] == expected["ledger"]
    assert got["activity"] == expected["activity"]


class StreamingProducer:
    """Publishes events in small acknowledged chunks from a thread, so faults land while the stream flows."""

    def __init__(self, settings: KafkaSettings, topic: str, events: Sequence[EngagementEvent], chunk: int = 500):
        self._settings = settings
        self._topic = topic
        self._events = list(events)
        self._chunk = chunk
        self.sent = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="streaming-producer", daemon=True)

    def start(self) -> StreamingProducer:
        self._thread.start()
        return self

    def _run(self) -> None:
        publisher = make_publisher(self._settings, "fault-stream")
        try:
            for start in range(0, len(self._events), self._chunk):
                chunk = self._events[start : start + self._chunk]
                publisher.publish(
                    [OutgoingRecord(self._topic, e.person_key, e.model_dump_json().encode()) for e in chunk],
                    wait=True,
                )
                self.sent += len(chunk)
                time.sleep(0.05)
        except BaseException as exc:  # surfaced by join()
            self.error = exc
        finally:
            publisher.close()

    def join(self, timeout: float = 300) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the producer did not finish"
        if self.error is not None:
            raise self.error


def scoring_env(settings: KafkaSettings, database_url: str, group: str, **extra: str) -> dict[str, str]:
    """The scoring service's environment for these tests (decay sweep off: it would add events of its own)."""
    return {
        "PEERSCORE_ENV": "dev",
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.topic_prefix,
        "KAFKA_EVENT_PARTITIONS": str(settings.event_partitions),
        "KAFKA_MAX_POLL_RECORDS": "200",
        "DATABASE_URL": database_url,
        "SCORING_GROUP_ID": group,
        "SCORING_DECAY_SWEEP_INTERVAL_S": "0",
        **extra,
    }


def scoring_tables(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)


def interleave(valid: Sequence[Any], poison: Sequence[Any], seed: int) -> list[Any]:
    """Poison at random (seeded) positions; the valid records keep their order (per-key order is Kafka's promise)."""
    slots = [True] * len(valid) + [False] * len(poison)
    random.Random(seed).shuffle(slots)
    good, bad = iter(valid), iter(poison)
    return [next(good) if is_valid else next(bad) for is_valid in slots]


def score_in_process(
    settings: KafkaSettings, database_url: str, name: str, expect: int, timeout: float
) -> tuple[LoopStats, dict[str, Any]]:
    """Run the real scoring loop in-process over the events topic until ``expect`` records are settled: its stats
    and the resulting state."""
    engine = make_engine(database_url)
    scoring_tables(engine)
    publisher = make_publisher(settings, name)
    ruleset = load_default_ruleset()
    try:
        loop = scoring_loop(
            settings,
            engine=engine,
            ruleset=lambda: ruleset,
            publisher=publisher,
            group_id=unique(name),
            registry=CollectorRegistry(),
            poll_timeout_ms=200,
        )
        stats = loop.run(max_messages=expect, timeout=timeout)
        return stats, snapshot(engine)
    finally:
        publisher.close()
        engine.dispose()
