"""Decayed accumulators, per-rule and per-group caps, once-only rules and negative points."""

from __future__ import annotations

import pytest

from peerscore.scoring.domain import new_person, score_person
from peerscore.scoring.domain.decay import decay_factor
from peerscore.scoring.domain.state import RuleTally

from .builders import T0, Fold, days, event, small_ruleset


def test_decay_factor_halves_per_half_life() -> None:
    assert decay_factor(T0, T0 + days(10), 10) == pytest.approx(0.5)
    assert decay_factor(T0, T0 + days(30), 10) == pytest.approx(0.125)
    assert decay_factor(T0, T0 + days(5), 10) == pytest.approx(2**-0.5)
    assert decay_factor(T0, T0 + days(365), None) == 1.0
    assert decay_factor(T0, T0 - days(3), 10) == 1.0  # never "un-decays"


def test_tally_value_halves_after_one_half_life() -> None:
    tally = RuleTally().record(occurred_at=T0, award=12.0, at=T0, half_life_days=7)
    assert tally.value_at(T0 + days(7), 7) == pytest.approx(6.0)
    assert tally.value_at(T0 + days(14), 7) == pytest.approx(3.0)


def test_engagement_points_halve_after_one_half_life() -> None:
    fold = Fold(small_ruleset())
    first = fold.apply(event("demo.requested", T0))
    assert first.score is not None and first.score.engagement == 40
    later = score_person(fold.people["p1"], None, fold.ruleset, T0 + days(10))
    assert later.engagement == pytest.approx(20, abs=0.01)
    assert later.version == 1 and later.as_of == T0 + days(10)


def test_group_without_half_life_does_not_decay() -> None:
    fold = Fold(small_ruleset())
    fold.apply(event("webinar.attended", T0))
    assert score_person(fold.people["p1"], None, fold.ruleset, T0 + days(400)).groups["product_x"] == 10


def test_rule_cap_trims_awards_and_ledger_rows() -> None:
    fold = Fold(small_ruleset())
    points = [sum(a.points for a in fold.apply(event("page.viewed", T0, url="/pricing")).awards) for _ in range(4)]
    assert points == [10, 10, 5, 0]
    assert fold.results[-1].score is not None and fold.results[-1].score.engagement == 25
    # Room frees up as points decay: after one half-life the rule holds 12.5 and can take 10 more.
    again = fold.apply(event("page.viewed", T0 + days(10), url="/pricing"))
    assert [a.points for a in again.awards] == [pytest.approx(10)]
    assert again.score is not None and again.score.engagement == pytest.approx(22.5, abs=0.01)


def test_group_cap_trims_the_award_that_would_overflow() -> None:
    fold = Fold(small_ruleset())
    fold.apply(event("page.viewed", T0, url="/pricing"))
    fold.apply(event("page.viewed", T0, url="/pricing"))
    demo = fold.apply(event("demo.requested", T0))
    assert [(a.rule_id, a.points) for a in demo.awards] == [("demo", 30)]
    assert demo.score is not None and demo.score.engagement == 50


def test_not_repeatable_rule_awards_once_per_person() -> None:
    fold = Fold(small_ruleset())
    first = fold.apply(event("signed.up", T0))
    second = fold.apply(event("signed.up", T0 + days(60)))
    assert [a.points for a in first.awards] == [5] and second.awards == []
    assert fold.people["p1"].rules["signup"].count == 2


def test_negative_points_take_back_but_never_below_zero() -> None:
    fold = Fold(small_ruleset())
    fold.apply(event("page.viewed", T0, url="/pricing"))
    careers = fold.apply(event("page.viewed", T0, url="/careers"))
    assert [a.points for a in careers.awards] == [-8]
    assert careers.score is not None and careers.score.engagement == 2
    floor = fold.apply(event("page.viewed", T0, url="/careers"))
    assert [a.points for a in floor.awards] == [-2]
    assert floor.score is not None and floor.score.engagement == 0
    assert fold.apply(event("page.viewed", T0, url="/careers")).awards == []


def test_negative_rule_cap_bounds_its_magnitude() -> None:
    fold = Fold(small_ruleset())
    fold.apply(event("demo.requested", T0))
    taken = [sum(a.points for a in fold.apply(event("page.viewed", T0, url="/careers")).awards) for _ in range(3)]
    assert taken == [-8, -4, 0]
    assert fold.results[-1].score is not None and fold.results[-1].score.engagement == 28


def test_fit_is_from_current_attributes_and_clamped_at_zero() -> None:
    fold = Fold(small_ruleset())
    vp = fold.apply(event("identify", T0, traits={"seniority": "VP"}, domain="acme.com", account={"employees": 800}))
    assert vp.score is not None and (vp.score.fit, vp.score.grade) == (65, "A")
    assert {a.group for a in vp.awards} == {"fit"} and sum(a.points for a in vp.awards) == 65  # ledger rows
    again = fold.apply(event("identify", T0 + days(1), traits={"seniority": "VP"}))
    assert again.score is not None and again.score.fit == 65  # counted once, not per event
    assert again.awards == []  # nothing changed, no rows
    demoted = fold.apply(event("identify", T0 + days(2), traits={"seniority": "manager"}, email="x@gmail.com"))
    assert demoted.score is not None and (demoted.score.fit, demoted.score.grade) == (0, "D")
    fit_rows = [a.points for r in fold.results for a in r.awards if a.group == "fit"]
    assert max(0.0, sum(fit_rows)) == demoted.score.fit  # the clamped ledger sum is the fit score
    assert any(p < 0 for p in fit_rows)  # rules that stopped holding are taken back in the ledger


def test_total_and_groups_add_up() -> None:
    fold = Fold(small_ruleset())
    fold.apply(event("identify", T0, traits={"seniority": "vp"}))
    fold.apply(event("webinar.attended", T0))
    score = fold.apply(event("page.viewed", T0, url="/pricing")).score
    assert score is not None
    assert score.groups == {"fit": 45, "engagement": 10, "intent": 0, "product_x": 10}
    assert score.total == 65 and (score.fit, score.engagement, score.intent) == (45, 10, 0)


@pytest.mark.parametrize(
    ("traits", "domain", "pricing", "webinars", "grade", "level"),
    [
        ({}, None, 0, 0, "D", 1),
        ({"seniority": "vp"}, None, 1, 0, "B", 1),  # fit 45; activity 10
        ({"seniority": "vp"}, "big.io", 2, 0, "A", 2),  # fit 65; activity 20
        ({}, "big.io", 2, 2, "C", 3),  # fit 20; activity 20 + 20 (custom group counts)
    ],
)
def test_grades_and_levels(
    traits: dict[str, str], domain: str | None, pricing: int, webinars: int, grade: str, level: int
) -> None:
    fold = Fold(small_ruleset())
    fold.apply(event("identify", T0, traits=traits, domain=domain, account={"employees": 900}))
    for _ in range(pricing):
        fold.apply(event("page.viewed", T0, url="/pricing"))
    for _ in range(webinars):
        fold.apply(event("webinar.attended", T0))
    score = score_person(fold.people["p1"], fold.accounts.get("big.io"), fold.ruleset, T0)
    assert (score.grade, score.level) == (grade, level)


@pytest.mark.parametrize(("fit", "grade"), [(100, "A"), (60, "A"), (59.99, "B"), (40, "B"), (20, "C"), (19.9, "D")])
def test_grade_thresholds_are_inclusive(fit: float, grade: str) -> None:
    assert small_ruleset().grades.grade(fit) == grade


@pytest.mark.parametrize(("activity", "level"), [(0, 1), (19.99, 1), (20, 2), (39.9, 2), (40, 3), (500, 3)])
def test_level_thresholds_are_inclusive(activity: float, level: int) -> None:
    assert small_ruleset().levels.level(activity) == level


def test_score_person_refuses_a_person_never_scored() -> None:
    with pytest.raises(ValueError, match="no applied events"):
        score_person(new_person("p9"), None, small_ruleset(), T0)
