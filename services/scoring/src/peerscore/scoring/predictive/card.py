"""The model card on disk: JSON (everything), Markdown (for people) and PNG plots (ROC, calibration, lift)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .evaluation import roc_points
from .selection import verdict


def write_card(card: dict[str, Any], out: Path, labels: np.ndarray | None = None, **scores: np.ndarray) -> Path:
    """Write ``card.json``, ``card.md`` and (given test ``labels`` and named ``scores``) the plots into ``out``;
    the plots' paths are added to ``card`` under ``plots``."""
    out.mkdir(parents=True, exist_ok=True)
    if labels is not None and scores and card.get("status") == "trained":
        card["plots"] = _plots(card, out, labels, scores)
    (out / "card.json").write_text(json.dumps(card, indent=2, default=str))
    (out / "card.md").write_text(markdown(card))
    return out / "card.md"


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(card: dict[str, Any]) -> str:
    lines = [f"# Model card: conversion model {card.get('version', '(unregistered)')}", ""]
    window = card.get("training_window", {})
    lines += [f"Training window: {window.get('since')} → {window.get('until')}; {card.get('rows')} rows, "]
    lines[-1] += f"{card.get('positives')} converted within the horizon."
    if card.get("status") != "trained":
        lines += ["", f"**No model trained — scoring stays rules-only.** {card.get('reason', '')}", ""]
        return "\n".join(lines)
    test = card["test"]
    model, rules, base = test["model"], test["rules"], test.get("baseline", {})
    ruled = test.get("model_rule_features", {})
    lines += ["", f"Held-out test period: {card['splits']['test']['since']} → {card['splits']['test']['until']}", ""]
    lines += ["| metric | model | model on rule features | rules only | baseline (logistic) |", "|---|---|---|---|---|"]
    for key in ("roc_auc", "pr_auc", "top_decile_lift", "brier"):
        values = (model.get(key), ruled.get(key), rules.get(key), base.get(key))
        lines.append(f"| {key} | " + " | ".join(_fmt(v) for v in values) + " |")
    sets = card.get("feature_sets", {})
    lines += ["", f"Features: {sets.get('rules', '?')} from the rules, {sets.get('signals', '?')} from the raw signals"]
    lines[-1] += " (the rule-features column is the same training on the first group alone)."
    named = card.get("vocabulary", {}).get("types", [])
    lines += ["", "Event types with their own columns: " + (", ".join(named) or "none") + "; the rest pool as other."]
    lines += ["", f"Promotion: the model {verdict(card).reason()}."]
    lines += ["", "## Lift by decile (test)", "", "| decile | model rate | model lift | rules rate | rules lift |"]
    lines.append("|---|---|---|---|---|")
    for m, r in zip(model["lift_by_decile"], rules["lift_by_decile"], strict=False):
        lines.append(
            f"| {m['decile']} | {m['conversion_rate']:.3f} | {m['lift']:.2f} | {r['conversion_rate']:.3f} | "
            f"{r['lift']:.2f} |"
        )
    lines += ["", "## Calibration (test)", "", "| bin | rows | predicted | observed |", "|---|---|---|---|"]
    for b in test["calibration_bins"]:
        lines.append(f"| {b['low']:.1f}–{b['high']:.1f} | {b['rows']} | {b['predicted']:.3f} | {b['observed']:.3f} |")
    lines += ["", "## Features", "", ", ".join(f"`{f}`" for f in card.get("features", []))]
    lines += ["", "## Feature importance (gain)", ""]
    lines += [f"- {f['feature']}: {f['gain']:.1f}" for f in card.get("feature_importance", [])[:12]]
    lines += [
        "",
        f"Engine: {card['engine']}, best iteration {card['best_iteration']}, calibrator {card['calibrator']}.",
    ]
    for name, path in card.get("plots", {}).items():
        lines.append(f"\n![{name}]({Path(path).name})")
    return "\n".join(lines) + "\n"


def _plots(card: dict[str, Any], out: Path, labels: np.ndarray, scores: dict[str, np.ndarray]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: dict[str, str] = {}
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, values in scores.items():
        fpr, tpr = roc_points(labels, values)
        auc = card["test"].get(name, {}).get("roc_auc")
        ax.plot(fpr, tpr, label=f"{name} (AUC {_fmt(auc)})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test period)")
    ax.legend(loc="lower right")
    paths["roc"] = _save(fig, out / "roc.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    bins = card["test"]["calibration_bins"]
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.plot([b["predicted"] for b in bins], [b["observed"] for b in bins], marker="o", label="model")
    ax.set(xlabel="predicted probability", ylabel="observed conversion rate", title="Calibration (test period)")
    ax.legend(loc="upper left")
    paths["calibration"] = _save(fig, out / "calibration.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.8 / len(scores)
    for i, name in enumerate(scores):
        offset = (i - (len(scores) - 1) / 2) * width
        deciles = card["test"].get(name, {}).get("lift_by_decile", [])
        ax.bar([d["decile"] + offset for d in deciles], [d["lift"] for d in deciles], width=width, label=name)
    ax.axhline(1.0, color="grey", linestyle=":")
    ax.set(xlabel="decile (highest scores first)", ylabel="lift", title="Lift by decile (test period)")
    ax.legend()
    paths["lift"] = _save(fig, out / "lift.png")
    return paths


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return str(path)
