"""What a ruleset change means, rule by rule: the diff marketers read before the YAML text diff.

The form editor re-emits YAML in its own layout, so a text diff of a one-number change can cover the whole
file; comparing the parsed rulesets shows only what scoring will do differently. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peerscore.scoring.domain import Ruleset


@dataclass(frozen=True)
class Change:
    where: str
    """``rule pricing-page``, ``qualification``, ``groups.intent``…"""
    kind: str
    """added, removed or changed."""
    details: list[str]
    """``points: 10 → 30`` lines for changes; a summary for added and removed rules."""


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flat(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "—" if value is None else str(value)


def _field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    a, b = _flat(old), _flat(new)
    return [f"{key}: {_show(a.get(key))} → {_show(b.get(key))}" for key in sorted(a | b) if a.get(key) != b.get(key)]


def ruleset_changes(old: Ruleset, new: Ruleset) -> list[Change]:
    """Rules added, removed or changed (field by field), then the policies, in the new ruleset's order."""
    dump_old = old.model_dump(mode="json", by_alias=True, exclude_none=True)
    dump_new = new.model_dump(mode="json", by_alias=True, exclude_none=True)
    before = {r["id"]: r for r in dump_old["rules"]}
    after = {r["id"]: r for r in dump_new["rules"]}
    changes: list[Change] = []
    for rule_id, rule in after.items():
        if rule_id not in before:
            summary = f"{rule['group']}, {_show(rule['points'])} points" + (
                f": {rule['reason']}" if rule.get("reason") else ""
            )
            changes.append(Change(f"rule {rule_id}", "added", [summary]))
        elif details := _field_changes(before[rule_id], rule):
            changes.append(Change(f"rule {rule_id}", "changed", details))
    changes.extend(Change(f"rule {rule_id}", "removed", []) for rule_id in before if rule_id not in after)
    for section in ("groups", "grades", "levels", "qualification", "breadth", "name", "description"):
        details = _field_changes({section: dump_old.get(section)}, {section: dump_new.get(section)})
        if details:
            changes.append(Change(section, "changed", details))
    return changes
