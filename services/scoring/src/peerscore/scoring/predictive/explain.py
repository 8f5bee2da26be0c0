"""LightGBM contributions (``pred_contrib``) in words: why the model thinks a lead will convert.

Contributions cost a second pass over the trees, so the worker asks for them only for leads that cross a
threshold (likely to convert, or qualified by the model). The strongest positive contributions become one
sentence, e.g. "Likely to convert (64%): pricing page 3× in the last 30 days; 2 colleagues active in 7 days".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MAX_DRIVERS = 3
SENIORITY_WORDS = {
    0: "entry-level",
    1: "individual contributor",
    2: "manager",
    3: "director-level",
    4: "VP",
    5: "C-level",
}


def _label(rule_id: str) -> str:
    return rule_id.replace("-", " ").replace("_", " ")


def describe(feature: str, value: float) -> str | None:
    """A short phrase for one feature's value, or None for inputs not worth saying."""
    if isinstance(value, float) and math.isnan(value):
        return None
    parts = feature.split(".")
    if parts[0] == "rule" and len(parts) == 3:
        label, kind = _label(parts[1]), parts[2]
        if kind == "count":
            return f"{label} {int(value)}× so far"
        if kind.startswith("n") and kind.endswith("d"):
            return f"{label} {int(value)}× in the last {kind[1:-1]} days"
        if kind == "days_since":
            return f"{label} {round(value)} days ago" if value >= 1 else f"{label} today"
        return f"recent {label}"
    if parts[0] in ("type", "page") and len(parts) >= 3:
        return _signal_phrase(".".join(parts[1:-1]), parts[-1], value, page=parts[0] == "page")
    if parts[0] == "group":
        return f"{parts[1]} score {round(value)}"
    if parts[0] == "account":
        return f"{int(value)} colleagues active in {parts[1].rsplit('_', 1)[1].removesuffix('d')} days"
    named = {
        "score.total": f"rules score {round(value)}",
        "score.activity": f"activity {round(value)}",
        "fit.grade": f"fit grade {'DCBA'[min(3, max(0, int(value)))]}",
        "fit.seniority": f"{SENIORITY_WORDS.get(int(value), 'senior')} title",
        "fit.employees_log10": f"company size (~{round(10**value):,} employees)",
        "fit.has_account": "a company email",
        "person.events": f"{int(value)} events",
        "person.distinct_rules": f"{int(value)} kinds of activity",
        "session.count": f"{int(value)} visits",
        "signal.types": f"{int(value)} kinds of signals",
    }
    return named.get(feature)


def model_reason(probability: float, contributions: np.ndarray, values: np.ndarray, names: Sequence[str]) -> str:
    """One sentence from a row of ``pred_contrib`` output (the last column is the bias, ignored)."""
    order = np.argsort(-contributions[: len(names)])
    drivers: list[str] = []
    for i in order:
        if contributions[i] <= 0 or len(drivers) == MAX_DRIVERS:
            break
        phrase = describe(names[i], float(values[i]))
        if phrase and phrase not in drivers:
            drivers.append(phrase)
    head = f"Likely to convert ({round(probability * 100)}%)"
    return f"{head}: {'; '.join(drivers)}" if drivers else head


def _signal_phrase(what: str, kind: str, value: float, *, page: bool) -> str | None:
    """Raw-signal features in words: "integration connected 2× in the last 30 days", "pricing pages today"."""
    label = f"{what} pages" if page else _label(what.replace(".", " "))
    if kind == "count" and value >= 1:
        return f"{label} {int(value)}× so far"
    if kind.startswith("n") and kind.endswith("d") and value >= 1:
        return f"{label} {int(value)}× in the last {kind[1:-1]} days"
    if kind == "days_since":
        return f"{label} {round(value)} days ago" if value >= 1 else f"{label} today"
    return None
