"""Drift: how far recent inputs and scores have moved from the training window (population stability index).

The training run stores, per feature, decile edges of the training period and the share of rows in each bin
(plus the same for the calibrated probability). The report bins recent values with those edges:
``PSI = Σ (recent − expected) · ln(recent / expected)``. Usual reading: below 0.1 stable, 0.1–0.25 moderate
shift (watch), above 0.25 a significant shift (retrain or check the data). Thresholds are settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.domain.state import PersonState

from .features import align, feature_matrix, spec_for
from .model_registry import ModelVersionRow

BINS = 10
EPS = 1e-4
MISSING = "missing"


def _edges(values: np.ndarray) -> list[float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    return sorted(set(np.quantile(finite, np.linspace(0, 1, BINS + 1)[1:-1]).tolist()))


def _shares(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    """Share of rows per bin (``len(edges)+1`` bins) plus a last bin for missing values."""
    finite = np.isfinite(values)
    counts = np.bincount(np.searchsorted(np.asarray(edges), values[finite], side="right"), minlength=len(edges) + 1)
    all_counts = np.append(counts, (~finite).sum()).astype(float)
    return (all_counts / max(1, len(values))).tolist()


def baseline(matrix: np.ndarray, names: Sequence[str], probabilities: np.ndarray | None) -> dict[str, Any]:
    """The training window's distributions, stored in the model card."""
    features = {}
    for j, name in enumerate(names):
        edges = _edges(matrix[:, j])
        features[name] = {"edges": edges, "expected": _shares(matrix[:, j], edges)}
    out: dict[str, Any] = {"features": features, "rows": int(matrix.shape[0])}
    if probabilities is not None and probabilities.size:
        edges = _edges(probabilities)
        out["score"] = {"edges": edges, "expected": _shares(probabilities, edges)}
    return out


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    e = np.clip(np.asarray(expected), EPS, None)
    a = np.clip(np.asarray(actual), EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def level(value: float, warn: float, alert: float) -> str:
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


def compare(
    base: dict[str, Any],
    matrix: np.ndarray,
    names: Sequence[str],
    probabilities: np.ndarray | None,
    *,
    warn: float = 0.1,
    alert: float = 0.25,
) -> dict[str, Any]:
    """PSI per feature (worst first) and for the score; ``matrix`` columns follow ``names``."""
    rows: list[dict[str, Any]] = []
    for j, name in enumerate(names):
        ref = base["features"].get(name)
        if ref is None or matrix.shape[0] == 0:
            continue
        value = psi(ref["expected"], _shares(matrix[:, j], ref["edges"]))
        rows.append({"feature": name, "psi": round(value, 4), "level": level(value, warn, alert)})
    rows.sort(key=lambda r: -r["psi"])
    report: dict[str, Any] = {
        "recent_rows": int(matrix.shape[0]),
        "training_rows": base.get("rows"),
        "thresholds": {"warn": warn, "alert": alert},
        "features": rows,
        "alerts": [r["feature"] for r in rows if r["level"] == "alert"],
        "warnings": [r["feature"] for r in rows if r["level"] == "warn"],
    }
    ref = base.get("score")
    if ref is not None and probabilities is not None and probabilities.size:
        value = psi(ref["expected"], _shares(probabilities, ref["edges"]))
        report["score"] = {"psi": round(value, 4), "level": level(value, warn, alert), "rows": int(probabilities.size)}
    return report


def drift_report(
    engine: Engine,
    model: ModelVersionRow,
    ruleset: Ruleset,
    *,
    since: datetime,
    warn: float = 0.1,
    alert: float = 0.25,
    limit: int = 50_000,
) -> dict[str, Any]:
    """Recent leads (state updated since ``since``): their features and the model's probability in their stored
    scores, against the model's training window."""
    from peerscore.scoring import store
    from peerscore.scoring.models import PersonRow

    base = model.card.get("drift_baseline")
    if not base:
        raise ValueError(f"model {model.version} has no drift baseline in its card")
    with Session(engine) as session:
        rows = session.exec(
            select(PersonRow.state, PersonRow.score).where(col(PersonRow.updated_at) >= since).limit(limit)
        ).all()
        people = [PersonState.model_validate(state) for state, _ in rows]
        accounts = store.load_accounts(session, {p.account_key for p in people if p.account_key})
    # The champion's probability is part of each lead's stored score (the lead's latest version).
    probs = [
        score.get("conversion_probability")
        for _, score in rows
        if score is not None and score.get("model_version") == model.version
    ]
    spec = spec_for(ruleset, model.features)
    inputs = [
        (p, accounts[p.account_key].active_people if p.account_key in accounts else {}, p.last_event_at)
        for p in people
        if p.last_event_at is not None and p.version > 0
    ]
    matrix = align(feature_matrix(inputs, ruleset, spec), spec, model.features)
    probabilities = np.asarray([p for p in probs if p is not None], dtype=float)
    report = compare(base, matrix, model.features, probabilities, warn=warn, alert=alert)
    return {"model_version": model.version, "since": since.isoformat(), **report}


def default_since(now: datetime, days: float = 14) -> datetime:
    return now - timedelta(days=days)
