"""Before any announcement is read a worker serves the registry's live version, else its configured default."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session

from peerscore.kafka_io import KafkaPublisher
from peerscore.scoring.domain import parse_ruleset
from peerscore.scoring.rulesets import ruleset_registry as registry
from peerscore.scoring.rulesets.models import RulesetVersionRow
from peerscore.scoring.rulesets.watcher import LiveRuleset
from peerscore.scoring.rulesets.wiring import LazyPublisher, build_live_ruleset
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import KafkaSettings

from .support import sqlite_engine, variant

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def test_fallback_is_the_registry_live_version_then_the_default(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path)
    default = parse_ruleset(variant("default"))
    settings = ScoringSettings(ruleset_name="test")

    def build() -> LiveRuleset:
        return build_live_ruleset(engine=lambda: engine, kafka=KafkaSettings(), scoring=settings, default=default)

    try:
        assert build().current() is default
        with Session(engine) as session, session.begin():
            version = registry.store_draft(session, text=variant("a"), now=NOW).row.version
            registry.publish(session, version=version, now=NOW)
        assert build().current().version == version
        with Session(engine) as session, session.begin():
            row = session.get(RulesetVersionRow, version)
            assert row is not None
            row.yaml = row.yaml.replace("points: 45", "points: many")  # as if validation had tightened since
        assert build().current() is default, "an unparseable registry version never stops scoring"
    finally:
        engine.dispose()


def test_lazy_publisher_opens_nothing_until_the_first_publish() -> None:
    def factory() -> KafkaPublisher:
        raise AssertionError("no producer may be opened")

    lazy = LazyPublisher(factory)
    lazy.flush()
    lazy.close()  # the factory raises if either of them opened a producer
