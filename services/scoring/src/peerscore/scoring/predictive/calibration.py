"""Calibration: raw LightGBM scores → probabilities that match observed conversion rates.

Fitted with scikit-learn on a calibration slice the booster never trained on; stored as plain JSON (isotonic
thresholds or Platt's two numbers) and applied with numpy, so serving needs neither scikit-learn nor pickle.
Isotonic needs enough positives to be smooth; with fewer, Platt scaling (a logistic fit) is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MIN_POSITIVES_FOR_ISOTONIC = 40


def fit_calibrator(raw: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """A JSON-able calibrator for ``raw`` probabilities (from the booster) given observed ``labels``."""
    if labels.sum() >= MIN_POSITIVES_FOR_ISOTONIC:
        from sklearn.isotonic import IsotonicRegression  # type: ignore[import-untyped]

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, labels)
        return {"kind": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    logit = _logit(raw).reshape(-1, 1)
    if len(set(labels.tolist())) < 2:
        return {"kind": "identity"}
    lr = LogisticRegression(C=1e6).fit(logit, labels)
    return {"kind": "platt", "a": float(lr.coef_[0][0]), "b": float(lr.intercept_[0])}


def calibrate(calibrator: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    kind = calibrator.get("kind")
    if kind == "isotonic":
        return np.interp(raw, np.asarray(calibrator["x"]), np.asarray(calibrator["y"]))
    if kind == "platt":
        return 1.0 / (1.0 + np.exp(-(calibrator["a"] * _logit(raw) + calibrator["b"])))
    if kind == "identity":
        return raw
    raise ValueError(f"unknown calibrator kind {kind!r}")


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))
