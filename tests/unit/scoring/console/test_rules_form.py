"""The structured editor: the form round-trips a ruleset, and validator problems land on the rule and field."""

from __future__ import annotations

from importlib.resources import files

from peerscore.scoring.console.changes import ruleset_changes
from peerscore.scoring.console.rules_form import (
    RulesForm,
    form_from_post,
    form_from_yaml,
    place_problems,
    yaml_from_form,
)
from peerscore.scoring.domain import RulesetError, RulesetProblem, load_default_ruleset, parse_ruleset

DEFAULT = files("peerscore.scoring.domain").joinpath("default_ruleset.yaml").read_text(encoding="utf-8")


def posted(form_fields: dict[str, str], checked: set[str] | None = None) -> dict[str, str]:
    return {"base": "", **form_fields, **{k: "on" for k in checked or set()}}


def fields_of(text: str) -> tuple[dict[str, str], set[str]]:
    """What a browser would post for the unchanged form of ``text``."""
    form = form_from_yaml(text, "")
    out: dict[str, str] = {}
    checked: set[str] = set()
    for i, rule in enumerate(form.rules):
        for name in ("id", "group", "points", "cap", "reason", "description", "when"):
            out[f"rule-{i}-{name}"] = getattr(rule, name)
        if rule.repeatable:
            checked.add(f"rule-{i}-repeatable")
    out.update(form.policy)
    return out, checked


def problems_for(fields: dict[str, str], checked: set[str]) -> tuple[RulesForm, list[RulesetProblem]]:
    form = form_from_post({**fields, **{k: "on" for k in checked}}, checked)
    text, problems = yaml_from_form(form, DEFAULT)
    try:
        parse_ruleset(text)
    except RulesetError as exc:
        problems = [*problems, *exc.errors]
    return form, problems


def test_an_unchanged_form_means_the_same_ruleset() -> None:
    fields, checked = fields_of(DEFAULT)
    form = form_from_post({**fields, **{k: "on" for k in checked}}, checked)
    text, problems = yaml_from_form(form, DEFAULT)
    assert not problems
    assert parse_ruleset(text) == load_default_ruleset()
    assert parse_ruleset(text).version == load_default_ruleset().version


def test_a_wrong_value_is_placed_on_its_rule_and_field_even_after_a_deleted_rule() -> None:
    fields, checked = fields_of(DEFAULT)
    checked.add("rule-0-delete")  # indexes in the validator's paths shift by one
    fields["rule-5-points"] = "ten"
    form, problems = problems_for(fields, checked)
    placed = place_problems(form, problems)
    assert set(placed.by_rule) == {5} and list(placed.by_rule[5]) == ["points"]
    assert "valid number" in placed.by_rule[5]["points"][0]
    assert placed.count == 1 and not placed.general


def test_broken_conditions_and_policies_are_placed_too() -> None:
    fields, checked = fields_of(DEFAULT)
    broken = {**fields, "rule-2-when": "person: {seniority: [director"}
    form, problems = problems_for(broken, checked)
    assert "YAML syntax" in place_problems(form, problems).by_rule[2]["when"][0]
    flapping = {**fields, "qualification.recycle.below_activity": "70"}
    form, problems = problems_for(flapping, checked)
    placed = place_problems(form, problems)
    assert "flap" in placed.by_policy["qualification.recycle.below_activity"][0]


def test_a_new_rule_is_added_and_an_empty_one_ignored() -> None:
    fields, checked = fields_of(DEFAULT)
    assert len(form_from_post(posted(fields), checked).rules) == len(load_default_ruleset().rules)
    fields.update(
        {
            "rule-new-id": "pricing-twice",
            "rule-new-group": "intent",
            "rule-new-points": "7",
            "rule-new-when": "type: page.viewed\nurl_matches: /pricing",
        }
    )
    checked.add("rule-new-repeatable")
    form = form_from_post(posted(fields), checked)
    text, problems = yaml_from_form(form, DEFAULT)
    assert not problems
    added = parse_ruleset(text).rules[-1]
    assert added.id == "pricing-twice" and added.points == 7 and added.group == "intent"


def test_changes_are_listed_rule_by_rule_whatever_the_yaml_layout() -> None:
    fields, checked = fields_of(DEFAULT)
    fields["rule-0-points"] = "35"
    checked.add("rule-1-delete")
    fields["qualification.qualify.min_activity"] = "45"
    text, _ = yaml_from_form(form_from_post({**fields, **{k: "on" for k in checked}}, checked), DEFAULT)
    changes = ruleset_changes(load_default_ruleset(), parse_ruleset(text))
    assert [(c.where, c.kind) for c in changes] == [
        ("rule c-level", "changed"),
        ("rule vp-level", "removed"),
        ("qualification", "changed"),
    ]
    assert changes[0].details == ["points: 30 → 35"]
    assert changes[2].details == ["qualification.qualify.min_activity: 50 → 45"]
