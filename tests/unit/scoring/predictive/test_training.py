"""Training on generated journeys: rules fallback, calibration sanity, the model card on disk."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from peerscore.scoring.predictive.calibration import calibrate, fit_calibrator
from peerscore.scoring.predictive.card import write_card
from peerscore.scoring.predictive.training import time_split, train_model

from .support import TINY, trained, training_set


def test_too_few_outcomes_means_rules_only_and_the_card_says_so(tmp_path: Path) -> None:
    data = training_set()
    result = train_model(data, replace(TINY, min_positives=data.positives + 1))
    assert result.model_text is None
    assert result.card["status"] == "rules_fallback"
    assert f"fewer than the minimum of {data.positives + 1}" in (result.fallback_reason or "")
    write_card(result.card, tmp_path)
    assert "No model trained" in (tmp_path / "card.md").read_text()
    assert not (tmp_path / "roc.png").exists()


def test_splits_follow_time() -> None:
    parts = time_split(training_set(), TINY.fractions)
    assert parts["train"].as_of.max() <= parts["valid"].as_of.min()
    assert parts["calib"].as_of.max() <= parts["test"].as_of.min()
    assert sum(len(p) for p in parts.values()) == len(training_set())


def test_calibrated_probabilities_match_observed_rates_in_bins() -> None:
    """Held-out test period, fixed seed: three equal-count bins, predicted vs observed within 0.15."""
    result = trained()
    assert result.model_text is not None and result.test_probabilities is not None
    test = time_split(training_set(), TINY.fractions)["test"]
    order = np.argsort(result.test_probabilities)
    for part in np.array_split(order, 3):
        predicted = result.test_probabilities[part].mean()
        observed = test.labels[part].mean()
        assert abs(predicted - observed) < 0.15, (predicted, observed)
    assert abs(result.test_probabilities.mean() - test.labels.mean()) < 0.1


def test_the_card_compares_with_rules_on_the_same_rows(tmp_path: Path) -> None:
    result = trained()
    card = result.card
    model, rules = card["test"]["model"], card["test"]["rules"]
    assert model["rows"] == rules["rows"] == card["splits"]["test"]["rows"]
    assert model["roc_auc"] > 0.7  # the generator's intent is learnable
    assert len(model["lift_by_decile"]) == 10
    assert card["feature_importance"] and card["best_iteration"] >= 1
    test = time_split(training_set(), TINY.fractions)["test"]
    assert result.test_probabilities is not None
    write_card(card, tmp_path, test.labels, model=result.test_probabilities, rules=test.rules_score)
    for name in ("roc.png", "calibration.png", "lift.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "card.json").read_text())["test"]["model"]["roc_auc"] == model["roc_auc"]
    assert "| roc_auc |" in (tmp_path / "card.md").read_text()


def test_isotonic_and_platt_calibrators_are_monotone_and_bounded() -> None:
    rng = np.random.default_rng(3)
    raw = rng.uniform(0, 1, 2000)
    labels = (rng.uniform(0, 1, 2000) < raw**2).astype(int)
    for sample in (slice(None), slice(0, 60)):  # plenty of positives: isotonic; few: Platt
        calibrator = fit_calibrator(raw[sample], labels[sample])
        out = calibrate(calibrator, np.linspace(0, 1, 50))
        assert np.all(np.diff(out) >= -1e-12) and out.min() >= 0 and out.max() <= 1
    assert fit_calibrator(raw, labels)["kind"] == "isotonic"
    assert fit_calibrator(raw[:60], labels[:60])["kind"] == "platt"
    # isotonic on this data: p(raw=0.8) ≈ 0.64
    assert abs(float(calibrate(fit_calibrator(raw, labels), np.array([0.8]))[0]) - 0.64) < 0.1
