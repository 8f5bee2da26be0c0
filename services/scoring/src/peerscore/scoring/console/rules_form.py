"""The structured rule editor's model: ruleset YAML ⇄ form fields, and validation problems ⇄ form fields.

Pure. The form edits the rules and the thresholds marketers negotiate (grades, qualify/recycle); everything
else (groups, levels, breadth, the name) is carried over from the version the edit started from. Values are
kept as the text typed, so a wrong one ("ten") reaches the real validator and comes back as a problem on that
rule and field instead of being silently dropped. Writing from the form re-emits the YAML without comments
(the YAML editor keeps them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from peerscore.scoring.domain.errors import RulesetProblem

RULE_FIELDS = ("id", "group", "points", "cap", "reason", "description", "when")
POLICY_FIELDS = (
    ("grades.A", "Grade A from fit"),
    ("grades.B", "Grade B from fit"),
    ("grades.C", "Grade C from fit"),
    ("qualification.qualify.min_activity", "Qualify at activity"),
    ("qualification.qualify.min_grade", "Qualify at grade"),
    ("qualification.recycle.below_activity", "Recycle below activity"),
    ("qualification.recycle.below_grade", "Recycle below grade"),
)
_RULE_PATH = re.compile(r"^rules\[(\d+)\](?:\.([A-Za-z_]+))?")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass
class RuleFields:
    """One rule as the form shows it: every value a string, ``when`` as a YAML block."""

    id: str = ""
    group: str = ""
    points: str = ""
    cap: str = ""
    reason: str = ""
    description: str = ""
    when: str = ""
    repeatable: bool = True
    delete: bool = False

    @property
    def blank(self) -> bool:
        return not any((self.id, self.points, self.when.strip(), self.reason))


@dataclass
class RulesForm:
    base: str
    """The version the edit started from ("" for the configured default)."""
    rules: list[RuleFields]
    policy: dict[str, str] = field(default_factory=dict)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _dig(data: Mapping[str, Any], dotted: str) -> object:
    node: object = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def form_from_yaml(text: str, base: str) -> RulesForm:
    """The form for a stored (valid) ruleset text."""
    data = yaml.safe_load(text) or {}
    rules = []
    for raw in data.get("rules") or []:
        when = raw.get("when")
        rules.append(
            RuleFields(
                id=_text(raw.get("id")),
                group=_text(raw.get("group")),
                points=_text(raw.get("points")),
                cap=_text(raw.get("cap")),
                reason=_text(raw.get("reason")),
                description=_text(raw.get("description")),
                when=yaml.safe_dump(when, sort_keys=False, allow_unicode=True, width=100).strip() if when else "",
                repeatable=raw.get("repeatable", True) is not False,
            )
        )
    policy = {path: _text(_dig(data, path)) for path, _ in POLICY_FIELDS}
    return RulesForm(base=base, rules=rules, policy=policy)


def form_from_post(fields: Mapping[str, str], checked: set[str]) -> RulesForm:
    """The form as submitted: ``rule-<i>-<field>`` inputs (``rule-new-…`` for the added row)."""
    indexes = sorted({int(m.group(1)) for k in fields if (m := re.match(r"^rule-(\d+)-id$", k))})
    rules = []
    for prefix in [f"rule-{i}" for i in indexes] + ["rule-new"]:
        rule = RuleFields(
            **{name: fields.get(f"{prefix}-{name}", "").strip() for name in RULE_FIELDS},
            repeatable=f"{prefix}-repeatable" in checked,
            delete=f"{prefix}-delete" in checked,
        )
        if prefix == "rule-new" and rule.blank:
            continue
        rules.append(rule)
    policy = {path: fields.get(path, "").strip() for path, _ in POLICY_FIELDS}
    return RulesForm(base=fields.get("base", ""), rules=rules, policy=policy)


def _scalar(text: str) -> object:
    """A number when it reads as one, else the text itself (for the validator to refuse with a message)."""
    if not _NUMBER.match(text):
        return text
    return float(text) if "." in text else int(text)


def _set(data: dict[str, Any], dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    if value == "":
        node.pop(last, None)
    else:
        node[last] = value


def yaml_from_form(form: RulesForm, base_text: str) -> tuple[str, list[RulesetProblem]]:
    """The ruleset YAML the form describes, and problems the YAML parser would not place (a broken ``when``)."""
    data: dict[str, Any] = yaml.safe_load(base_text) or {}
    data.pop("version", None)  # an edited ruleset is a new version: its content hash
    problems: list[RulesetProblem] = []
    rules: list[dict[str, Any]] = []
    kept = [r for r in form.rules if not r.delete]
    for index, rule in enumerate(kept):
        out: dict[str, Any] = {"id": rule.id, "group": rule.group, "points": _scalar(rule.points)}
        if rule.cap:
            out["cap"] = _scalar(rule.cap)
        if not rule.repeatable:
            out["repeatable"] = False
        try:
            out["when"] = yaml.safe_load(rule.when) if rule.when.strip() else None
        except yaml.YAMLError as exc:
            reason = getattr(exc, "problem", None) or str(exc)
            problems.append(RulesetProblem(line=None, path=f"rules[{index}].when", message=f"YAML syntax: {reason}"))
            out["when"] = {}
        if out["when"] is None:
            del out["when"]
        if rule.reason:
            out["reason"] = rule.reason
        if rule.description:
            out["description"] = rule.description
        rules.append(out)
    data["rules"] = rules
    for path, _ in POLICY_FIELDS:
        _set(data, path, _scalar(form.policy.get(path, "")))
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
    return text, problems


def kept_rules(form: RulesForm) -> list[tuple[int, RuleFields]]:
    """Form position of each rule that stays: validator paths (``rules[i]``) count only the kept ones."""
    return [(i, r) for i, r in enumerate(form.rules) if not r.delete]


@dataclass
class PlacedProblems:
    """Problems by where the form shows them: a rule's field, a policy field, or the page top."""

    by_rule: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    by_policy: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return (
            sum(len(m) for f in self.by_rule.values() for m in f.values())
            + sum(len(m) for m in self.by_policy.values())
            + len(self.general)
        )


def place_problems(form: RulesForm, problems: list[RulesetProblem]) -> PlacedProblems:
    """Map validator paths (``rules[3].when.url_matches``) onto the form position and field they concern."""
    placed = PlacedProblems()
    positions = [i for i, _ in kept_rules(form)]
    for problem in problems:
        match = _RULE_PATH.match(problem.path)
        if match and int(match.group(1)) < len(positions):
            field_name = match.group(2) or "id"
            if field_name not in (*RULE_FIELDS, "repeatable"):
                field_name = "id"
            rest = problem.path[match.end() :].lstrip(".")
            message = f"{rest}: {problem.message}" if rest and field_name == "when" else problem.message
            target = placed.by_rule.setdefault(positions[int(match.group(1))], {})
            target.setdefault(field_name, []).append(message)
            continue
        policy = next((p for p, _ in POLICY_FIELDS if problem.path == p or problem.path.startswith(p + ".")), None)
        if policy is not None:
            placed.by_policy.setdefault(policy, []).append(problem.message)
        else:
            placed.general.append(str(problem))
    return placed
