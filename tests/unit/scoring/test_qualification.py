"""Hysteresis: qualify above one bar, recycle only under a lower one, emit each flip exactly once."""

from __future__ import annotations

from peerscore.scoring.domain import score_person

from .builders import T0, Fold, days, event, small_ruleset


def vp_fold() -> Fold:
    fold = Fold(small_ruleset())
    fold.apply(event("identify", T0, traits={"seniority": "VP"}))  # fit 45 → grade B
    return fold


def test_qualifies_once_and_stays_between_thresholds() -> None:
    fold = vp_fold()
    steps = [
        (event("demo.requested", T0), "qualified", True),  # activity 40 ≥ 30
        (event("page.viewed", T0 + days(10), url="/pricing"), None, True),  # 20 + 10 = 30
        (event("identify", T0 + days(20)), None, True),  # 15: under 30 but above 10 → no flap
        (event("page.viewed", T0 + days(20), url="/pricing"), None, True),  # 25: would qualify, already is
        (event("identify", T0 + days(45)), "recycled", False),  # 25·2^-2.5 ≈ 4.4 < 10
        (event("page.viewed", T0 + days(46), url="/pricing"), None, False),  # ≈ 14: above 10, below 30
        (event("page.viewed", T0 + days(46), url="/pricing"), None, False),  # ≈ 24
        (event("demo.requested", T0 + days(47)), "qualified", True),
    ]
    for evt, transition, qualified in steps:
        applied = fold.apply(evt)
        assert applied.score is not None
        assert (applied.transition, applied.person.qualified, applied.score.qualified) == (
            transition,
            qualified,
            qualified,
        ), evt.occurred_at
    assert fold.transitions().count("qualified") == 2 and fold.transitions().count("recycled") == 1


def test_a_grade_too_low_never_qualifies_however_active() -> None:
    fold = Fold(small_ruleset())
    fold.apply(event("identify", T0, email="kid@gmail.com"))
    for _ in range(3):
        fold.apply(event("demo.requested", T0))
    assert fold.transitions() == [None] * 4
    assert not fold.people["p1"].qualified


def test_grade_drop_recycles_when_the_policy_says_so() -> None:
    ruleset = small_ruleset(**{"recycle: {below_activity: 10}": "recycle: {below_activity: 10, below_grade: C}"})
    fold = Fold(ruleset)
    fold.apply(event("identify", T0, traits={"seniority": "VP"}))
    assert fold.apply(event("demo.requested", T0)).transition == "qualified"
    # Grade C (fit 20) is in the gap: kept. Grade D recycles.
    to_c = fold.apply(event("identify", T0, traits={"seniority": "staff"}, domain="big.io", account={"employees": 900}))
    assert to_c.score is not None and to_c.score.grade == "C" and to_c.transition is None
    to_d = fold.apply(event("identify", T0, email="me@gmail.com"))
    assert to_d.score is not None and to_d.score.grade == "D" and to_d.transition == "recycled"
    assert fold.apply(event("identify", T0 + days(1))).transition is None


def test_read_time_score_decays_but_keeps_the_stored_decision() -> None:
    fold = vp_fold()
    fold.apply(event("demo.requested", T0))
    later = score_person(fold.people["p1"], None, fold.ruleset, T0 + days(60))
    assert later.engagement < 10 and later.qualified
