"""Generated histories with outcomes, a small training set built from them, and tiny trained models."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.dev.generated import generated_world
from peerscore.events import EngagementEvent
from peerscore.scoring.domain import Ruleset, load_default_ruleset
from peerscore.scoring.predictive import model_registry
from peerscore.scoring.predictive.dataset import DatasetConfig, TrainingSet, build_training_set
from peerscore.scoring.predictive.sources import group_by_person
from peerscore.scoring.predictive.training import TrainConfig, TrainResult, train_model

END = datetime(2026, 10, 1, tzinfo=UTC)
SECRET = b"unit-predictive"
TINY = TrainConfig(min_positives=20, num_boost_round=40, early_stopping_rounds=10, min_data_in_leaf=10)


@cache
def generated(people: int = 700, seed: int = 5) -> tuple[list[EngagementEvent], list[tuple[str, str, datetime]]]:
    """Events as ingest keys them, and outcomes sent by email through crm-sync's keying, read as scoring reads
    them (under the canonical person the email was merged into)."""
    world = generated_world(people, 120, seed, SECRET, END)
    return world.events, world.labels()


@cache
def ruleset() -> Ruleset:
    return load_default_ruleset()


@cache
def training_set() -> TrainingSet:
    events, outcomes = generated()
    start = min(e.occurred_at for e in events)
    return build_training_set(
        group_by_person(events), outcomes, ruleset(), start=start, end=END, config=DatasetConfig()
    )


@cache
def trained(seed: int = 7, leaves: int = 15, *, rule_features_only: bool = False) -> TrainResult:
    """A tiny model; ``rule_features_only`` trains on the rule features alone — the model of the registry and
    selection tests that must beat the rules (this world's conversion is what the rules were written for, so the
    raw-signal columns only add noise on its small held-out period)."""
    config = TrainConfig(**{**TINY.__dict__, "seed": seed, "num_leaves": leaves})
    data = training_set()
    return train_model(data.rule_features_only() if rule_features_only else data, config)


def register_result(engine: Engine, result: TrainResult) -> int:
    """Store a trained model in the registry (no training window); returns its version."""
    assert result.model_text is not None
    with Session(engine) as session, session.begin():
        row = model_registry.register(
            session,
            model_text=result.model_text,
            calibrator=result.calibrator,
            features=result.feature_names,
            card=result.card,
            training_since=None,
            training_until=None,
        )
        assert row.version is not None
        return row.version
