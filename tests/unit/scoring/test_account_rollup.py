"""Account roll-up: breadth, decision makers, best fit, stage and reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from peerscore.events import LeadScore, PersonTraits
from peerscore.scoring.domain.accounts import AccountMember, is_decision_maker, roll_up
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.domain.state import new_account

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def member(key: str, *, fit: float, activity: float, qualified: bool = False, title: str = "Engineer") -> AccountMember:
    score = LeadScore(
        person_key=key,
        version=3,
        fit=fit,
        engagement=activity / 2,
        intent=activity / 2,
        total=fit + activity,
        grade="A" if fit >= 60 else "C",
        level=2,
        qualified=qualified,
        reasons=[f"{key} viewed pricing"],
        ruleset_version="v",
        as_of=NOW,
    )
    return AccountMember(score=score, traits=PersonTraits(title=title))


def test_committee_with_a_decision_maker_and_an_mql_is_an_mqa() -> None:
    ruleset = load_default_ruleset()
    account = new_account("acme.example").merge_activity(
        {"p_a": NOW - timedelta(days=1), "p_b": NOW - timedelta(days=2), "p_c": NOW - timedelta(days=40)}
    )
    members = [
        member("p_a", fit=70, activity=60, qualified=True, title="VP of Marketing"),
        member("p_b", fit=30, activity=20),
        member("p_c", fit=10, activity=0),
    ]
    scored = roll_up(account, members, ruleset, NOW)
    assert (scored.people, scored.active_people, scored.decision_makers, scored.qualified_people) == (3, 2, 1, 1)
    assert scored.fit == 70 and scored.activity == 80 and scored.grade == "A"
    assert scored.stage == "mqa"
    assert scored.top_people == ["p_a", "p_b", "p_c"]
    assert scored.reasons[0] == "2 people at acme.example active in the last 7 days"
    assert "1 decision maker engaged (VP of Marketing)" in scored.reasons
    assert scored.reasons[-1] == "Top contact (VP of Marketing): p_a viewed pricing"


def test_quiet_account_is_only_aware_and_one_loud_person_is_not_a_committee() -> None:
    ruleset = load_default_ruleset()
    quiet = roll_up(new_account("q.example"), [member("p_q", fit=10, activity=0)], ruleset, NOW)
    assert quiet.stage == "aware" and quiet.active_people == 0
    assert quiet.reasons == ["Top contact (Engineer): p_q viewed pricing"]
    loud = roll_up(
        new_account("l.example").merge_activity({"p_l": NOW}),
        [member("p_l", fit=30, activity=90, qualified=True)],
        ruleset,
        NOW,
    )
    assert loud.stage == "engaged", "a single non-decision-maker with C fit does not make an MQA"


def test_decision_makers_by_seniority_or_title() -> None:
    assert is_decision_maker(PersonTraits(seniority="VP"))
    assert is_decision_maker(PersonTraits(title="Head of Demand Generation"))
    assert is_decision_maker(PersonTraits(title="Chief Revenue Officer"))
    assert not is_decision_maker(PersonTraits(title="Software Engineer", seniority="individual"))
