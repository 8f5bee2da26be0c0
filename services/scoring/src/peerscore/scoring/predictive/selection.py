"""Honest model selection: a model becomes champion only if it ranks the held-out period better than the rules.

The card holds, on the same held-out rows, the ROC-AUC of the model and of the rule total used as a ranking;
the verdict compares the two. Pure (no database), so the registry, the API and the CLI give the same answer
and the console can show it. A card without both numbers (an older or hand-made one) is not evidence that the
model beats the rules, so it is refused like a loser — forcing is always possible and is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    model_roc_auc: float | None
    rules_roc_auc: float | None
    baseline_roc_auc: float | None = None

    @property
    def margin(self) -> float | None:
        """Model minus rules held-out ROC-AUC (positive: the model ranks better)."""
        if self.model_roc_auc is None or self.rules_roc_auc is None:
            return None
        return self.model_roc_auc - self.rules_roc_auc

    @property
    def beats_rules(self) -> bool:
        return self.margin is not None and self.margin > 0

    def reason(self) -> str:
        if self.margin is None:
            return "its card has no held-out ROC-AUC for both the model and the rules to compare"
        verb = "beats" if self.beats_rules else "does not beat"
        return (
            f"held-out ROC-AUC {self.model_roc_auc:.3f} {verb} the rules' {self.rules_roc_auc:.3f} "
            f"(by {self.margin:+.3f})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_roc_auc": self.model_roc_auc,
            "rules_roc_auc": self.rules_roc_auc,
            "baseline_roc_auc": self.baseline_roc_auc,
            "roc_auc_margin": self.margin,
            "beats_rules": self.beats_rules,
        }


def verdict(card: Mapping[str, Any] | None) -> Verdict:
    """Read the held-out ROC-AUCs from a card, defensively (cards of older versions lack the baseline)."""
    test = _mapping(_mapping(card).get("test"))
    return Verdict(
        model_roc_auc=_number(_mapping(test.get("model")).get("roc_auc")),
        rules_roc_auc=_number(_mapping(test.get("rules")).get("roc_auc")),
        baseline_roc_auc=_number(_mapping(test.get("baseline")).get("roc_auc")),
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
