"""Training: a time-based split, LightGBM with early stopping, calibration, and the evaluation for the card.

Rows are split by ``as_of`` (oldest first): *train* fits the trees, *valid* stops boosting when its log-loss
stops improving, *calib* fits the calibrator, *test* — the most recent period, never seen before — is what the
card reports, for the model, for the rules-only score and for a plain logistic-regression baseline (see
``baseline``) on exactly the same rows; ``selection`` turns the model-vs-rules comparison into the promotion
verdict. With fewer positive
outcomes than ``min_positives`` nothing is trained: scoring stays rules-only, and the result says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import numpy as np

from . import baseline, evaluation
from .calibration import calibrate, fit_calibrator
from .dataset import TrainingSet
from .selection import verdict


@dataclass(frozen=True)
class TrainConfig:
    min_positives: int = 50
    """Fewer positive outcomes than this and no model is trained (rules fallback)."""
    fractions: tuple[float, float, float] = (0.55, 0.1, 0.15)
    """train, valid, calib; the rest (the newest rows) is the test period."""
    num_boost_round: int = 500
    early_stopping_rounds: int = 30
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 20
    seed: int = 7
    dask: bool = False
    dask_scheduler: str | None = None
    """A Dask scheduler address; with ``dask`` and no address a LocalCluster is started for the run."""
    compare_rule_features: bool = True
    """Also fit a model on the rule features alone (same rows, same settings) for the card's comparison."""

    def params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": 0.9,
            "bagging_fraction": 0.9,
            "bagging_freq": 1,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": 1,
            "verbosity": -1,
        }


@dataclass
class TrainResult:
    """``model_text`` is None on rules fallback (``fallback_reason`` says why)."""

    card: dict[str, Any]
    model_text: str | None = None
    calibrator: dict[str, Any] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)
    fallback_reason: str | None = None
    test_probabilities: np.ndarray | None = None
    baseline_probabilities: np.ndarray | None = None
    """The logistic-regression baseline's probabilities on the test rows (for the card's plots)."""


Progress = Callable[[int, int], None]
"""``progress(iteration, total)``."""


def time_split(data: TrainingSet, fractions: tuple[float, float, float]) -> dict[str, TrainingSet]:
    n = len(data)
    bounds = np.cumsum([0, *fractions]) * n
    cuts = [int(round(b)) for b in bounds] + [n]
    names = ("train", "valid", "calib", "test")
    return {name: data.take(np.arange(cuts[i], cuts[i + 1])) for i, name in enumerate(names)}


def _window(part: TrainingSet) -> dict[str, str | None]:
    if len(part) == 0:
        return {"since": None, "until": None}
    return {
        "since": datetime.fromtimestamp(float(part.as_of.min()), UTC).isoformat(),
        "until": datetime.fromtimestamp(float(part.as_of.max()), UTC).isoformat(),
    }


def train_model(
    data: TrainingSet, config: TrainConfig = TrainConfig(), progress: Progress | None = None
) -> TrainResult:
    parts = time_split(data, config.fractions)
    base_card: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_window": _window(data),
        "rows": len(data),
        "positives": data.positives,
        "min_positives": config.min_positives,
        "splits": {k: {"rows": len(v), "positives": v.positives, **_window(v)} for k, v in parts.items()},
    }
    short = [k for k, v in parts.items() if v.positives < 2 or v.positives == len(v)]
    if data.positives < config.min_positives or short:
        reason = (
            f"{data.positives} positive outcomes, fewer than the minimum of {config.min_positives}"
            if data.positives < config.min_positives
            else f"the {', '.join(short)} period(s) need both converted and unconverted leads"
        )
        return TrainResult(card={**base_card, "status": "rules_fallback", "reason": reason}, fallback_reason=reason)
    train, valid, calib, test = parts["train"], parts["valid"], parts["calib"], parts["test"]
    params = config.params()
    if config.dask:
        from .dask_training import fit_with_dask

        model_text, best_iteration = fit_with_dask(train, valid, params, config)
        booster = lgb.Booster(model_str=model_text)
    else:
        booster, best_iteration = _fit_local(train, valid, params, config, progress)
        model_text = booster.model_to_string(num_iteration=best_iteration)
        booster = lgb.Booster(model_str=model_text)
    calibrator = fit_calibrator(np.asarray(booster.predict(calib.features)), calib.labels)
    probabilities = calibrate(calibrator, np.asarray(booster.predict(test.features)))
    before_test = data.take(np.arange(len(data) - len(test)))
    baseline_p = baseline.fit_predict(before_test.features, before_test.labels, test.features, config.seed)
    importance = booster.feature_importance(importance_type="gain")
    ranked = sorted(zip(data.spec.names, importance.tolist(), strict=True), key=lambda x: -x[1])
    card: dict[str, Any] = {
        **base_card,
        "status": "trained",
        "engine": "lightgbm.dask" if config.dask else "lightgbm",
        "params": params,
        "best_iteration": best_iteration,
        "calibrator": calibrator["kind"],
        "baseline": {"kind": baseline.NAME, "fitted_on": ["train", "valid", "calib"]},
        "features": list(data.spec.names),
        "test": _held_out(test, probabilities, baseline_p),
        "feature_sets": {"rules": data.spec.rule_features, "signals": len(data.spec.names) - data.spec.rule_features},
        "vocabulary": {"types": list(data.spec.vocabulary.types), **dict(data.spec.vocabulary.categories)},
        "feature_importance": [{"feature": f, "gain": round(g, 3)} for f, g in ranked[:20] if g > 0],
    }
    if config.compare_rule_features and data.spec.rule_features < len(data.spec.names):
        card["test"]["model_rule_features"] = _rule_features_model(parts, params, config)
    card["selection"] = verdict(card).as_dict()
    return TrainResult(
        card=card,
        model_text=model_text,
        calibrator=calibrator,
        feature_names=list(data.spec.names),
        test_probabilities=probabilities,
        baseline_probabilities=baseline_p,
    )


def _held_out(test: TrainingSet, probabilities: np.ndarray, baseline_p: np.ndarray) -> dict[str, Any]:
    """The three rankings' metrics on the same test rows, and the model's calibration."""
    return {
        "model": evaluation.summary(test.labels, probabilities, probabilities=True),
        "rules": evaluation.summary(test.labels, test.rules_score),
        "baseline": evaluation.summary(test.labels, baseline_p, probabilities=True),
        "calibration_bins": evaluation.calibration_bins(test.labels, probabilities),
    }


def _rule_features_model(parts: dict[str, TrainingSet], params: dict[str, Any], config: TrainConfig) -> dict[str, Any]:
    """The same training on the rule features alone, scored on the same test rows: what the raw signals add."""
    train, valid, calib, test = (parts[k].rule_features_only() for k in ("train", "valid", "calib", "test"))
    booster, best_iteration = _fit_local(train, valid, params, config, None)
    calibrator = fit_calibrator(np.asarray(booster.predict(calib.features, num_iteration=best_iteration)), calib.labels)
    raw = np.asarray(booster.predict(test.features, num_iteration=best_iteration))
    summary = evaluation.summary(test.labels, calibrate(calibrator, raw), probabilities=True)
    return {**summary, "features": len(train.spec.names), "best_iteration": best_iteration}


def _fit_local(
    train: TrainingSet, valid: TrainingSet, params: dict[str, Any], config: TrainConfig, progress: Progress | None
) -> tuple[lgb.Booster, int]:
    names = [n.replace(".", "_") for n in train.spec.names]  # LightGBM refuses some characters in names
    dtrain = lgb.Dataset(train.features, train.labels, feature_name=names, free_raw_data=False)
    dvalid = lgb.Dataset(valid.features, valid.labels, reference=dtrain)
    callbacks: list[Callable[..., None]] = [lgb.early_stopping(config.early_stopping_rounds, verbose=False)]
    if progress is not None:
        callbacks.append(lambda env: progress(env.iteration + 1, config.num_boost_round))
    booster = lgb.train(
        params, dtrain, num_boost_round=config.num_boost_round, valid_sets=[dvalid], callbacks=callbacks
    )
    return booster, int(booster.best_iteration or booster.current_iteration())
