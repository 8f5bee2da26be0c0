"""``peerscore train`` end to end: history → point-in-time set → LightGBM → card → registry (optional promote)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import lightgbm as lgb
import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.scoring.backtest.period import Period
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.identity.replay import PersonHistory

from . import model_registry
from .calibration import calibrate
from .card import write_card
from .dataset import DatasetConfig, TrainingSet, build_training_set
from .drift import baseline
from .sources import history_span, stored_histories, stored_outcomes
from .training import TrainConfig, TrainResult, time_split, train_model


@dataclass
class TrainRun:
    result: TrainResult
    data: TrainingSet
    card_path: Path | None
    version: int | None = None


def fit(
    histories: Iterable[PersonHistory],
    outcomes: Iterable[tuple[str, str, datetime]],
    ruleset: Ruleset,
    *,
    start: datetime,
    end: datetime,
    dataset: DatasetConfig = DatasetConfig(),
    config: TrainConfig = TrainConfig(),
    out: Path | None = None,
    on_events: Callable[[int], None] | None = None,
    on_iteration: Callable[[int, int], None] | None = None,
) -> TrainRun:
    data = build_training_set(histories, outcomes, ruleset, start=start, end=end, config=dataset, progress=on_events)
    result = train_model(data, config, progress=on_iteration)
    result.card["dataset"] = {
        "horizon_days": dataset.horizon_days,
        "snapshot_every_days": dataset.snapshot_every_days,
        "active_days": dataset.active_days,
        "positive_kinds": sorted(dataset.positive_kinds),
        "ruleset_version": ruleset.version,
    }
    if result.model_text is not None:
        train = time_split(data, config.fractions)["train"]
        booster = lgb.Booster(model_str=result.model_text)
        train_p = calibrate(result.calibrator, np.asarray(booster.predict(train.features)))
        result.card["drift_baseline"] = baseline(train.features, data.spec.names, train_p)
    card_path = None
    if out is not None:
        test = time_split(data, config.fractions)["test"]
        scores = {
            "model": result.test_probabilities,
            "rules": test.rules_score,
            "baseline": result.baseline_probabilities,
        }
        card_path = write_card(
            result.card,
            out,
            test.labels if result.model_text else None,
            **{k: v for k, v in scores.items() if v is not None},
        )
    return TrainRun(result=result, data=data, card_path=card_path)


def register_run(
    engine: Engine, run: TrainRun, promote: model_registry.Role | None = None, *, force: bool = False
) -> int:
    """Store a trained run in the registry (and promote it); returns the version.

    The version is committed before the promotion is tried, so a refused promotion
    (:class:`~.model_registry.RulesNotBeaten`, raised with ``run.version`` set) keeps the registered model."""
    result = run.result
    assert result.model_text is not None, "rules fallback: nothing to register"
    window = result.card.get("training_window", {})
    with Session(engine) as session, session.begin():
        row = model_registry.register(
            session,
            model_text=result.model_text,
            calibrator=result.calibrator,
            features=result.feature_names,
            card=result.card,
            training_since=_parse(window.get("since")),
            training_until=_parse(window.get("until")),
        )
        assert row.version is not None
        version = row.version
        row.card = {**result.card, "version": version, "sha256": row.sha256}
    run.version = version
    if promote is not None:
        with Session(engine) as session, session.begin():
            model_registry.promote(session, version, promote, note="peerscore train", force=force)
    return version


def train_from_database(
    engine: Engine,
    ruleset: Ruleset,
    *,
    dataset: DatasetConfig,
    config: TrainConfig,
    out: Path | None,
    on_events: Callable[[int], None] | None = None,
    on_iteration: Callable[[int, int], None] | None = None,
) -> TrainRun | None:
    """Train on everything scoring stored; None when there is no history at all."""
    span = history_span(engine)
    if span is None:
        return None
    start, end = span
    return fit(
        stored_histories(engine, Period()),
        stored_outcomes(engine),
        ruleset,
        start=start,
        end=end,
        dataset=dataset,
        config=config,
        out=out,
        on_events=on_events,
        on_iteration=on_iteration,
    )


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None
