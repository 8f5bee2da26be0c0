"""History written straight into a database (no broker): what the worker would have stored."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from importlib.resources import files

from sqlalchemy import Engine, insert
from sqlmodel import Session

from peerscore.db import create_tables
from peerscore.dev.journeys import JourneyGenerator
from peerscore.events import EngagementEvent
from peerscore.ingest.normalise import normalise_batch
from peerscore.scoring.domain import Ruleset, parse_ruleset
from peerscore.scoring.history import EventHistoryRow, history_row
from peerscore.scoring.models import SCORING_TABLES

END = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PARTITIONS = 4


def journey_events(people: int, seed: int = 21) -> list[EngagementEvent]:
    calls = JourneyGenerator(seed=seed).calls(people, end=END)
    return normalise_batch({"batch": calls}, secret=b"unit-backtest", received_at=END)


def write_history(engine: Engine, events: list[EngagementEvent], topic: str = "t.events.v1") -> None:
    """Rows as the worker writes them: keyed partitions, offsets growing per partition in arrival order."""
    create_tables(engine, SCORING_TABLES)
    offsets = [0] * PARTITIONS
    rows = []
    for e in events:
        partition = zlib.crc32(e.person_key.encode()) % PARTITIONS
        rows.append(history_row(topic, partition, offsets[partition], e))
        offsets[partition] += 1
    with Session(engine) as session, session.begin():
        session.execute(insert(EventHistoryRow.__table__), rows)  # type: ignore[attr-defined]


def default_yaml() -> str:
    return files("peerscore.scoring.domain").joinpath("default_ruleset.yaml").read_text(encoding="utf-8")


def stricter(min_activity: int = 150) -> Ruleset:
    text = default_yaml()
    assert "min_activity: 50" in text
    return parse_ruleset(text.replace("min_activity: 50", f"min_activity: {min_activity}"))
