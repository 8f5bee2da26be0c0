"""SIGKILL the scoring worker mid-stream, restart it, and compare with an uninterrupted run: identical state.

The reference run applies the stream in-process; the crash run is the real ``python -m peerscore.scoring``
process, killed three times at random points (seeded) while it works through the same topic.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from peerscore.db import create_tables, make_engine
from peerscore.dev.broker import free_port
from peerscore.scoring.models import SCORING_TABLES
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.support import applied_count, journey_events, snapshot
from tests.integration.scoring.test_scoring_worker import produce_events, run_scoring
from tests.processes import start_service, stop, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_sigkilled_worker_ends_with_exactly_the_uninterrupted_state(
    kafka_settings: KafkaSettings, topics: Topics, database_url: str, engine: Engine, tmp_path: Path
) -> None:
    events = journey_events(people=400, seed=21)
    total = len(events)
    produce_events(kafka_settings, topics.events, events)

    reference = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    run_scoring(kafka_settings, reference, unique("reference"), expect=total, timeout=180)

    group = unique("crashy")
    create_tables(engine, SCORING_TABLES)
    env = {
        "PEERSCORE_ENV": "dev",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
        "KAFKA_EVENT_PARTITIONS": str(kafka_settings.event_partitions),
        "KAFKA_MAX_POLL_RECORDS": "40",
        "DATABASE_URL": database_url,
        "SCORING_GROUP_ID": group,
    }
    rng = random.Random(1234)
    kill_points = sorted(rng.sample(range(total // 10, total * 9 // 10), 3))
    log = tmp_path / "scoring.log"
    for point in kill_points:
        proc = start_service("peerscore.scoring", {**env, "HTTP_PORT": str(free_port())}, log)
        try:
            wait_until(lambda p=point: applied_count(engine, group) >= p, 120, f"{point} records applied")
        finally:
            stop(proc, signal.SIGKILL)
        assert applied_count(engine, group) < total, "the kill must land before the end of the stream"

    proc = start_service("peerscore.scoring", {**env, "HTTP_PORT": str(free_port())}, log)
    try:
        wait_until(lambda: applied_count(engine, group) >= total, 180, "the whole stream applied")
    finally:
        # uvicorn re-raises SIGTERM after its graceful shutdown: -SIGTERM is a clean exit, a timeout is not.
        assert stop(proc, signal.SIGTERM) in (0, -signal.SIGTERM), "SIGTERM drains and exits cleanly"

    crashed, expected = snapshot(engine), snapshot(reference)
    reference.dispose()
    assert applied_count(engine, group) == total
    assert len(crashed["people"]) == len(expected["people"]) > 100
    assert crashed["people"] == expected["people"]
    assert crashed["ledger"] == expected["ledger"]
    assert crashed["activity"] == expected["activity"]
