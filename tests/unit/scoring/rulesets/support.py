"""Ruleset texts for the registry tests: variants of the compact test ruleset, and one with known faults."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from peerscore.db import create_tables, make_engine
from peerscore.kafka_io import OutgoingRecord
from peerscore.scoring.models import SCORING_TABLES
from tests.unit.scoring.builders import TEST_RULESET


def variant(label: str, name: str = "test") -> str:
    """A valid ruleset whose description (part of the content hash) makes it a distinct version."""
    body = TEST_RULESET.replace("name: test\n", "")
    return f"# variant {label}\nname: {name}\ndescription: variant {label}\n{body}"


BROKEN = variant("broken").replace("    points: 45\n", "    points: lots\n").replace("cap: 25", "cap: -5")


def line_of(text: str, snippet: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if snippet in line)


def sqlite_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'rulesets.db'}")
    create_tables(engine, SCORING_TABLES)
    return engine


class RecordingPublisher:
    """Implements the Publisher protocol; keeps what was published, or raises ``fail``."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.records: list[OutgoingRecord] = []
        self.fail = fail

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        if self.fail is not None:
            raise self.fail
        assert wait, "announcements must wait for acks"
        self.records.extend(records)

    def flush(self, timeout: float | None = None) -> None:
        return None
