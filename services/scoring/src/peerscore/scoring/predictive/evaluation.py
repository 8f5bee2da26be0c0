"""Evaluation numbers for the model card, computed the same way for the model, the baseline and the rules-only
score (Brier only for the two that output probabilities: the rule total is a ranking, not a probability)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve  # type: ignore[import-untyped]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    return float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else None


def pr_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    return float(average_precision_score(labels, scores)) if 0 < labels.sum() < len(labels) else None


def brier(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """Mean squared error of the probabilities (lower is better); None on no rows."""
    return float(np.mean((probabilities - labels) ** 2)) if len(labels) else None


def lift_by_decile(labels: np.ndarray, scores: np.ndarray) -> list[dict[str, float]]:
    """Deciles from the highest scores down: conversion rate in each and its ratio to the overall rate.

    Ties are broken by position (stable sort), so a coarse score such as the rules total gets no credit from a
    lucky order within a tie.
    """
    if len(labels) == 0:
        return []
    order = np.argsort(-scores, kind="stable")
    base = labels.mean() or 1.0
    out = []
    for d, part in enumerate(np.array_split(order, 10), start=1):
        if len(part) == 0:
            continue
        rate = float(labels[part].mean())
        out.append({"decile": d, "rows": int(len(part)), "conversion_rate": rate, "lift": rate / base})
    return out


def top_decile_lift(labels: np.ndarray, scores: np.ndarray) -> float | None:
    deciles = lift_by_decile(labels, scores)
    return deciles[0]["lift"] if deciles and labels.sum() > 0 else None


def calibration_bins(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width probability bins: mean predicted vs observed rate (empty bins left out)."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "rows": int(mask.sum()),
                    "predicted": float(probabilities[mask].mean()),
                    "observed": float(labels[mask].mean()),
                }
            )
    return out


def summary(labels: np.ndarray, scores: np.ndarray, *, probabilities: bool = False) -> dict[str, Any]:
    """The held-out metrics of one ranking; ``probabilities`` says ``scores`` are P(converted), so Brier applies."""
    return {
        "rows": int(len(labels)),
        "positives": int(labels.sum()),
        "roc_auc": roc_auc(labels, scores),
        "pr_auc": pr_auc(labels, scores),
        "top_decile_lift": top_decile_lift(labels, scores),
        "brier": brier(labels, scores) if probabilities else None,
        "lift_by_decile": lift_by_decile(labels, scores),
    }


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr
