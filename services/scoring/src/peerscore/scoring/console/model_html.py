"""Body of ``/console/model``: the champion and the challenger with their model cards (the route reads them
from the model registry).

The card is the JSON the training pipeline stored with the version (metrics for the model and for rules alone
on the held-out period, lift by decile, calibration bins, feature importance); its plots are redrawn here as
SVG, because the PNGs the trainer wrote live on the trainer's disk. Fields are read defensively: a card from
an older or failed training shows what it has. Without a registered model the page says scoring is rules-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from peerscore.scoring.predictive.model_registry import ModelVersionRow, Roles
from peerscore.scoring.predictive.selection import verdict

from .charts import Series, grouped_bars, lines
from .html import esc, notice, table, when

METRICS = (("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC"), ("top_decile_lift", "Top-decile lift"), ("brier", "Brier"))


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else esc(value if value is not None else "—")


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, Sequence) else []


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _model_metric(metrics: object, key: str) -> object:
    model = metrics.get("model") if isinstance(metrics, Mapping) else None
    return model.get(key) if isinstance(model, Mapping) else None


def model_card(row: ModelVersionRow, role: str) -> str:
    card: Mapping[str, Any] = row.card or {}
    head = (
        f'<section aria-labelledby="m{row.version}"><h2 id="m{row.version}">{esc(role.title())}: model '
        f"{row.version}</h2><p>Registered {when(row.created_at)} · training window {when(row.training_since)} → "
        f"{when(row.training_until)} · artifact sha256 <code>{esc(row.sha256[:16])}…</code> · "
        f"{len(row.features)} features</p>"
    )
    if card.get("status") not in (None, "trained"):
        return head + notice(f"Not trained: {card.get('reason', 'no reason given')}", "warn") + "</section>"
    test = _mapping(card.get("test"))
    model, rules, base = _mapping(test.get("model")), _mapping(test.get("rules")), _mapping(test.get("baseline"))
    metrics = table(
        ["metric", "model", "rules only", "baseline (logistic)"],
        [[esc(label), _fmt(model.get(key)), _fmt(rules.get(key)), _fmt(base.get(key))] for key, label in METRICS],
        caption="Held-out test period",
    )
    check = verdict(card)
    metrics += notice(f"The model {check.reason()}.", "info" if check.beats_rules else "warn")
    model_lift, rules_lift = _dicts(model.get("lift_by_decile")), _dicts(rules.get("lift_by_decile"))
    lift = grouped_bars(
        "Lift by decile (highest scores first)",
        [str(d.get("decile")) for d in model_lift],
        [
            Series("model", [float(d.get("lift") or 0) for d in model_lift]),
            Series(
                "rules only",
                [float(d.get("lift") or 0) for d in rules_lift[: len(model_lift)]]
                + [0.0] * max(0, len(model_lift) - len(rules_lift)),
            ),
        ],
        summary="Conversion lift per score decile, model and rules only",
    )
    bins = _dicts(test.get("calibration_bins"))
    calibration = lines(
        "Calibration: predicted vs observed conversion",
        [f"{float(b.get('low') or 0):.1f}–{float(b.get('high') or 0):.1f}" for b in bins],
        [
            Series("observed", [float(b.get("observed") or 0) for b in bins]),
            Series("predicted", [float(b.get("predicted") or 0) for b in bins]),
        ],
        summary="Observed conversion rate per predicted-probability bin (a calibrated model follows predicted)",
    )
    features = "".join(
        f"<li>{esc(f.get('feature'))}: {_fmt(f.get('gain'))}</li>" for f in _dicts(card.get("feature_importance"))[:12]
    )
    return (
        head
        + metrics
        + lift
        + calibration
        + (f"<h3>Feature importance (gain)</h3><ol>{features}</ol>" if features else "")
        + "</section>"
    )


def model_body(versions: Sequence[ModelVersionRow], roles: Roles) -> str:
    """``versions`` newest first, as the model registry lists them; ``roles`` says which are champion and challenger."""
    champion = next((v for v in versions if v.version == roles.champion), None)
    challenger = next((v for v in versions if v.version == roles.challenger), None)
    if not versions:
        return notice("No model is registered: leads are scored by the rules alone.") + (
            "<p>Train one with <code>peerscore train</code>; registered versions, the champion and the "
            "challenger appear here with their model cards.</p>"
        )
    body = "" if champion is not None else notice("No champion: scoring is rules-only until a model is promoted.")
    if champion is not None:
        body += model_card(champion, "champion")
    if challenger is not None:
        body += model_card(challenger, "challenger (shadow)")
    rows = [
        [
            str(v.version),
            "champion" if v.version == roles.champion else "challenger" if v.version == roles.challenger else "",
            when(v.created_at),
            _fmt(_model_metric(v.metrics, "roc_auc")),
        ]
        for v in versions
    ]
    return body + "<h2>All versions</h2>" + table(["version", "role", "registered", "ROC-AUC"], rows, caption="Models")
