"""Buying-committee breadth (account context of published scores, never person points), and readable reasons."""

from __future__ import annotations

from datetime import datetime

import pytest

from peerscore.scoring.domain import AccountState, account_breadth, parse_ruleset, score_person, with_account_context
from peerscore.scoring.domain.reasons import colleagues_active, count_and_period, times
from peerscore.scoring.domain.state import MAX_ACTIVE_PEOPLE

from .builders import T0, TEST_RULESET, Fold, days, event, small_ruleset

BREADTH = "2 colleagues at acme.com active this week"


def test_breadth_needs_enough_other_people_in_the_window() -> None:
    fold = Fold(small_ruleset())
    fold.apply(event("page.viewed", T0 - days(10), person="old", domain="acme.com"))  # outside 7 days
    fold.apply(event("page.viewed", T0, person="p2", domain="acme.com"))
    fold.apply(event("page.viewed", T0, person="p1", domain="www.acme.com"))
    alone = fold.published[-1]
    assert alone is not None and BREADTH not in alone.reasons  # only one colleague
    third = fold.apply(event("page.viewed", T0 + days(1), person="p3", domain="acme.com"))
    published = fold.published[-1]
    assert published is not None and published.reasons[0] == BREADTH
    # An account signal only: no award, no intent, and the stored score does not mention colleagues.
    assert third.awards == [] and third.score is not None and third.score.intent == 0
    assert BREADTH not in third.score.reasons
    assert published == third.score.model_copy(update={"reasons": [BREADTH, *third.score.reasons]})
    # p1's next event now sees p2 and p3.
    fold.apply(event("page.viewed", T0 + days(1), person="p1"))
    back = fold.published[-1]
    assert back is not None and back.reasons[0] == BREADTH and back.intent == 0


def test_breadth_awards_no_person_points_and_colleagues_exclude_the_person() -> None:
    fold = Fold(small_ruleset())
    for person in ("p2", "p3"):
        fold.apply(event("identify", T0, person=person, domain="acme.com"))
    for _ in range(4):
        fold.apply(event("identify", T0, person="p1", domain="acme.com"))
    state, account = fold.people["p1"], fold.accounts["acme.com"]
    assert "breadth" not in state.rules and fold.ruleset.all_rules() == fold.ruleset.rules
    assert account_breadth(account, "p1", T0, 7) == 2
    assert account_breadth(account, None, T0, 7) == 3


def test_breadth_window_counts_activity_before_and_after_the_score_time() -> None:
    account = AccountState(
        account_key="acme.com",
        active_people={"a": T0 - days(6), "b": T0 + days(6), "c": T0 + days(8), "d": T0 - days(7)},
    )
    assert account_breadth(account, None, T0, 7) == 2


def test_accounts_keep_idle_people_so_activity_merges_commute() -> None:
    fold = Fold(small_ruleset())
    fold.apply(event("identify", T0, person="p2", domain="acme.com"))
    fold.apply(event("identify", T0 + days(8), person="p1", domain="acme.com"))
    assert fold.accounts["acme.com"].active_people == {"p1": T0 + days(8), "p2": T0}
    assert account_breadth(fold.accounts["acme.com"], "p1", T0 + days(8), 7) == 0


def test_late_activity_keeps_a_persons_latest_time() -> None:
    account = AccountState(account_key="acme.com").with_activity("p1", T0 + days(2))
    assert account.with_activity("p1", T0).active_people == {"p1": T0 + days(2)}


def test_active_people_are_bounded_by_recency_then_key() -> None:
    many = {f"p{i:04d}": T0 + days(i % 7) for i in range(MAX_ACTIVE_PEOPLE + 50)}
    account = AccountState(account_key="acme.com").merge_activity(many)
    expected = sorted(((t, k) for k, t in many.items()), reverse=True)[:MAX_ACTIVE_PEOPLE]
    assert account.active_people == {k: t for t, k in sorted(expected, key=lambda p: p[1])}


def test_account_context_puts_breadth_first_keeps_five_reasons_and_changes_nothing_else() -> None:
    fold = Fold(small_ruleset())
    for person in ("p2", "p3"):
        fold.apply(event("identify", T0, person=person, domain="big.io"))
    fold.apply(event("identify", T0, traits={"seniority": "vp"}, domain="big.io", account={"employees": 900}))
    for evt in ("demo.requested", "webinar.attended", "signed.up"):
        fold.apply(event(evt, T0))
    applied = fold.apply(event("page.viewed", T0, url="/pricing"))
    score, person, account = applied.score, applied.person, applied.account
    assert score is not None and len(score.reasons) == 5
    published = with_account_context(score, person, account, fold.ruleset)
    assert published.reasons == ["2 colleagues at big.io active this week", *score.reasons[:4]]
    assert published.model_dump(exclude={"reasons"}) == score.model_dump(exclude={"reasons"})
    assert with_account_context(published, person, account, fold.ruleset) == published  # idempotent
    assert score_person(person, account, fold.ruleset, T0).reasons == published.reasons


def test_no_account_context_without_breadth_policy_or_for_another_account() -> None:
    fold = Fold(small_ruleset())
    for person in ("p2", "p3", "p1"):
        fold.apply(event("identify", T0, person=person, domain="acme.com"))
    applied = fold.results[-1]
    assert applied.score is not None and applied.account is not None
    other = AccountState(account_key="globex.com", active_people=dict(applied.account.active_people))
    assert with_account_context(applied.score, applied.person, other, fold.ruleset) == applied.score
    assert with_account_context(applied.score, applied.person, None, fold.ruleset) == applied.score
    plain = parse_ruleset(
        TEST_RULESET.replace(TEST_RULESET[TEST_RULESET.index("breadth:") : TEST_RULESET.index("rules:")], "")
    )
    assert plain.breadth is None
    assert with_account_context(applied.score, applied.person, applied.account, plain) == applied.score


def test_reason_counts_occurrences_in_words() -> None:
    fold = Fold(small_ruleset())
    for day in (0, 2, 3):
        fold.apply(event("page.viewed", T0 + days(day), url="/pricing"))
    score = fold.results[-1].score
    assert score is not None and score.reasons == ["Viewed pricing 3× in the last 7 days"]
    later = score_person(fold.people["p1"], None, fold.ruleset, T0 + days(20))
    assert later.reasons == ["Viewed pricing 3× in the last 30 days"]


def test_reasons_rank_positives_then_the_strongest_negative() -> None:
    fold = Fold(small_ruleset())
    fold.apply(event("identify", T0, traits={"seniority": "vp"}, domain="big.io", account={"employees": 900}))
    fold.apply(event("page.viewed", T0, url="/pricing"))
    fold.apply(event("demo.requested", T0))
    fold.apply(event("webinar.attended", T0))
    fold.apply(event("signed.up", T0))
    fold.apply(event("page.viewed", T0, url="/careers"))
    score = fold.results[-1].score
    assert score is not None
    assert score.reasons == [
        "VP-level title",  # 45
        "Requested a demo",  # 40
        "Company of 900 people",  # 20
        "Viewed pricing once in the last 24 hours",  # 10 (tie with webinar; earlier rule first)
        "Looked at careers pages",  # -8
    ]


def test_rule_without_reason_falls_back_to_its_id() -> None:
    fold = Fold(small_ruleset())
    score = fold.apply(event("signed.up", T0)).score
    assert score is not None and score.reasons == ["signup"]


def test_decayed_contributions_drop_out_of_reasons() -> None:
    fold = Fold(small_ruleset())
    fold.apply(event("page.viewed", T0, url="/pricing"))
    assert score_person(fold.people["p1"], None, fold.ruleset, T0 + days(50)).reasons == []


@pytest.mark.parametrize(("count", "text"), [(1, "once"), (2, "twice"), (7, "7×")])
def test_times(count: int, text: str) -> None:
    assert times(count) == text


@pytest.mark.parametrize(
    ("ages", "expected"),
    [([0.1], (1, "24 hours")), ([6, 1], (2, "7 days")), ([29], (1, "30 days")), ([400.5, 2], (2, "401 days"))],
)
def test_count_and_period(ages: list[float], expected: tuple[int, str]) -> None:
    recent: list[datetime] = sorted(T0 - days(a) for a in ages)
    assert count_and_period(recent, T0) == expected


def test_a_qualified_transition_counts_the_colleagues_active_in_the_breadth_window() -> None:
    """What the MQL alert shows: other people of the account, in the ruleset's window (7 days without one)."""

    account = AccountState(
        account_key="acme.com", active_people={"me": T0, "a": T0 - days(2), "b": T0 - days(6), "c": T0 - days(20)}
    )
    assert colleagues_active(account, "me", T0, small_ruleset()) == 2
    assert colleagues_active(None, "me", T0, small_ruleset()) == 0
