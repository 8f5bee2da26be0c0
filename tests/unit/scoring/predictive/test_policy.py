"""``qualify.min_probability``: the model may qualify leads (rules OR model); unused, nothing changes."""

from __future__ import annotations

import pytest

from peerscore.scoring.domain import RulesetError, load_default_ruleset, parse_ruleset
from tests.unit.scoring.backtest.support import default_yaml

RULE = "qualify: {min_grade: B, min_activity: 50}"


def _with(bar: str) -> str:
    text = default_yaml()
    assert RULE in text
    return text.replace(RULE, f"qualify: {{min_grade: B, min_activity: 50, min_probability: {bar}}}")


def test_rulesets_without_it_keep_their_content_and_version() -> None:
    default = load_default_ruleset()
    assert "min_probability" not in default.model_dump()["qualification"]["qualify"]
    assert parse_ruleset(_with("0.4")).version != default.version


def test_probability_qualifies_only_unqualified_leads_at_or_above_the_bar() -> None:
    policy = parse_ruleset(_with("0.4")).qualification
    assert policy.qualifies_by_probability(False, 0.4)
    assert not policy.qualifies_by_probability(False, 0.39)
    assert not policy.qualifies_by_probability(True, 0.9)  # already qualified: no second transition
    assert not policy.qualifies_by_probability(False, None)  # no champion model
    assert not load_default_ruleset().qualification.qualifies_by_probability(False, 0.99)


@pytest.mark.parametrize("bar", ["0", "1.5", "high"])
def test_a_bad_bar_is_refused_with_its_path(bar: str) -> None:
    with pytest.raises(RulesetError) as exc:
        parse_ruleset(_with(bar))
    assert "min_probability" in str(exc.value)
