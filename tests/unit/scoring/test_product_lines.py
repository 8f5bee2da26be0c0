"""Product lines: one ruleset, a score, grade and MQL decision per line; a single-line ruleset is unchanged."""

from __future__ import annotations

import pytest

from peerscore.scoring.domain import RulesetError, apply_event, new_person, parse_ruleset
from peerscore.scoring.domain.engine import apply_event_immutable

from .builders import T0, TEST_RULESET, Fold, days, event, small_ruleset

LINES = """\
product_lines:
  core:
    groups: [fit, engagement, intent]
  x:
    groups: [fit, product_x]
    grades: {A: 70, B: 40, C: 20}
    qualification:
      qualify: {min_grade: B, min_activity: 20}
      recycle: {below_activity: 5}
"""


def two_lines(lines: str = LINES) -> str:
    return TEST_RULESET + lines


def vp_fold() -> Fold:
    fold = Fold(parse_ruleset(two_lines()))
    fold.apply(event("identify", T0, traits={"seniority": "VP"}, email="vp@acme.com"))  # fit 45 → grade B
    return fold


def test_a_ruleset_without_lines_keeps_its_version_and_scores_without_lines() -> None:
    plain = small_ruleset()
    assert plain.product_lines == {}
    assert "product_lines" not in plain.model_dump()
    fold = Fold(plain)
    applied = fold.apply(event("demo.requested", T0))
    assert applied.line_transitions == () and applied.score is not None and applied.score.lines == {}
    assert "lines" not in applied.score.model_dump() and "qualified_lines" not in applied.person.model_dump()
    assert parse_ruleset(two_lines()).version != plain.version


def test_a_lead_qualifies_for_one_line_only() -> None:
    fold = vp_fold()
    first = fold.apply(event("webinar.attended", T0 + days(1)))
    assert first.line_transitions == ()
    second = fold.apply(event("webinar.attended", T0 + days(1)))  # product_x 20: line x qualifies
    assert second.line_transitions == (("x", "qualified"),)
    assert second.transition is None and not second.person.qualified  # the lead as a whole: activity 20 < 30
    assert second.person.qualified_lines == ["x"]
    score = second.score
    assert score is not None and set(score.lines) == {"core", "x"}
    x, core = score.lines["x"], score.lines["core"]
    assert (x.score, x.activity, x.grade, x.qualified) == (65.0, 20.0, "B", True)
    assert (core.score, core.activity, core.qualified) == (45.0, 0.0, False)
    assert x.reasons[0].startswith("VP-level") and any("webinar" in r.lower() for r in x.reasons)
    assert not any("webinar" in r.lower() for r in core.reasons)
    # The other line's own bar, then the lead as a whole, on one event.
    demo = fold.apply(event("demo.requested", T0 + days(2)))
    assert demo.line_transitions == (("core", "qualified"),) and demo.transition == "qualified"
    assert demo.person.qualified_lines == ["core", "x"]


def test_each_line_has_its_own_hysteresis_and_emits_each_flip_once() -> None:
    fold = vp_fold()
    fold.apply(event("webinar.attended", T0 + days(1)))
    fold.apply(event("webinar.attended", T0 + days(1)))
    again = fold.apply(event("webinar.attended", T0 + days(2)))
    assert again.line_transitions == ()  # already an MQL for x: no second transition
    moves = [r.line_transitions for r in fold.results]
    assert sum(len(m) for m in moves) == 1


def test_a_line_recycles_on_its_own_policy() -> None:
    ruleset = parse_ruleset(two_lines().replace("product_x: {cap: 30}", "product_x: {cap: 30, half_life_days: 5}"))
    fold = Fold(ruleset)
    fold.apply(event("identify", T0, traits={"seniority": "VP"}))
    fold.apply(event("webinar.attended", T0))
    assert fold.apply(event("webinar.attended", T0)).line_transitions == (("x", "qualified"),)
    later = fold.apply(event("identify", T0 + days(20)))  # 20·2^-4 = 1.25 < 5
    assert later.line_transitions == (("x", "recycled"),) and later.person.qualified_lines == []
    assert later.score is not None and not later.score.lines["x"].qualified


def test_working_and_immutable_folds_agree_on_lines() -> None:
    ruleset = parse_ruleset(two_lines())
    person = new_person("p1")
    immutable = new_person("p1")
    steps = [
        event("identify", T0, traits={"seniority": "VP"}),
        event("webinar.attended", T0),
        event("webinar.attended", T0 + days(1)),
        event("demo.requested", T0 + days(2)),
    ]
    for evt in steps:
        working, reference = (
            apply_event(person, None, evt, ruleset),
            apply_event_immutable(immutable, None, evt, ruleset),
        )
        assert working.dump() == reference.dump()
        person, immutable = working.person, reference.person
    assert person.qualified_lines == ["core", "x"]


def test_the_state_round_trips_with_its_lines() -> None:
    fold = vp_fold()
    fold.apply(event("webinar.attended", T0))
    applied = fold.apply(event("webinar.attended", T0))
    stored = applied.person.model_dump(mode="json")
    assert stored["qualified_lines"] == ["x"]
    assert type(applied.person).model_validate(stored) == applied.person


@pytest.mark.parametrize(
    ("lines", "path", "message"),
    [
        ("product_lines:\n  x: {groups: [fit, nope]}\n", "product_lines.x.groups[1]", "unknown group 'nope'"),
        ("product_lines:\n  x: {groups: []}\n", "product_lines.x.groups", "at least 1 item"),
        ("product_lines:\n  x: {groups: [fit]}\n", "product_lines.x.groups", "at least one activity group"),
        ("product_lines:\n  x: {groups: [intent, intent]}\n", "product_lines.x.groups[1]", "listed twice"),
        ("product_lines:\n  Big Line: {groups: [intent]}\n", "product_lines.Big Line", "lower-case"),
        (
            "product_lines:\n  x:\n    groups: [intent]\n    grades: {A: 10, B: 40, C: 5}\n",
            "product_lines.x.grades.B",
            "must not be above A",
        ),
        (
            "product_lines:\n  x:\n    groups: [intent]\n    qualification:\n"
            "      qualify: {min_activity: 10}\n      recycle: {below_activity: 10}\n",
            "product_lines.x.qualification.recycle.below_activity",
            "so leads do not flap",
        ),
        (
            "product_lines:\n  x:\n    groups: [intent]\n    levels: {groups: [intent]}\n",
            "product_lines.x.levels.groups",
            "own groups",
        ),
        ("product_lines:\n  x: {groups: [intent], colour: red}\n", "product_lines.x.colour", "unknown field"),
    ],
)
def test_invalid_lines_are_refused_with_their_path(lines: str, path: str, message: str) -> None:
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(two_lines(lines))
    problems = caught.value.errors
    assert any(p.path == path and message in p.message for p in problems), problems
    assert all((p.line or 0) > 1 for p in problems if p.path == path)
