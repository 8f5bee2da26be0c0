"""The backtest's two-sided fold is production scoring: it must equal two plain ``apply_event`` folds.

The fold advances the ruleset-independent profile once per event and scores it under both rulesets, shares
condition matches between them, and joins accounts as plain data. None of that may change a number: every
side's totals, qualification times and final state, and every account, are compared with the worker's path
(``apply_event`` per event and ruleset, accounts merged event by event).
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime

import pytest

from peerscore.events import EngagementEvent
from peerscore.scoring.backtest.person_replay import AccountJoin, fold_person
from peerscore.scoring.domain import (
    AccountState,
    PersonState,
    Ruleset,
    account_key_for,
    apply_event,
    load_default_ruleset,
    new_person,
    parse_ruleset,
)
from peerscore.scoring.identity.replay import PersonHistory
from tests.unit.scoring.backtest.support import default_yaml, journey_events, stricter

LIVE = load_default_ruleset()


def _reweighed(text: str) -> str:
    """Every rule's points × 1.5 (and the qualification bar moved too)."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("points:"):
            value = float(stripped.split(":", 1)[1])
            line = line.split("points:")[0] + f"points: {value * 1.5:g}"
        lines.append(line)
    return "\n".join(lines).replace("min_activity: 50", "min_activity: 70")


def _reference(events: list[EngagementEvent], ruleset: Ruleset) -> tuple[PersonState, float, list[datetime]]:
    person = new_person(events[0].person_key)
    total, qualified_at = 0.0, []
    for event in events:
        applied = apply_event(person, None, event, ruleset)
        if applied.duplicate:
            continue
        person, total = applied.person, applied.total or 0.0
        if applied.transition == "qualified":
            assert applied.as_of is not None
            qualified_at.append(applied.as_of)
    return person, total, qualified_at


def _by_person(events: list[EngagementEvent]) -> dict[str, list[EngagementEvent]]:
    people: dict[str, list[EngagementEvent]] = defaultdict(list)
    for e in events:
        people[e.person_key].append(e)
    return people


GRADE_A = parse_ruleset(
    default_yaml().replace("qualify: {min_grade: B, min_activity: 50}", "qualify: {min_grade: A, min_activity: 80}")
)
"""Only the qualification policy differs: the fold reuses the live points (same scoring key)."""
REWEIGHED = parse_ruleset(_reweighed(default_yaml()))
"""Points differ: every event is scored under both rulesets."""


@pytest.mark.parametrize(
    "candidate", [LIVE, stricter(), GRADE_A, REWEIGHED], ids=["same", "activity-150", "grade-A", "reweighed"]
)
def test_two_sided_fold_equals_two_apply_event_folds(candidate: Ruleset) -> None:
    events = journey_events(people=150, seed=5)
    rng = random.Random(3)
    events += rng.sample(events, 40)  # redeliveries: skipped alike by both sides
    people = _by_person(events)
    joins: dict[str, AccountJoin] = {}
    changed = 0
    for key, own in people.items():
        result = fold_person(PersonHistory.single(key, own), LIVE, candidate, joins)
        live_state, live_total, live_at = _reference(own, LIVE)
        after_state, after_total, after_at = _reference(own, candidate)
        assert (result.before.total, result.before.qualified, result.before.qualified_at) == (
            live_total,
            live_state.qualified,
            live_at,
        )
        assert (result.after.total, result.after.qualified, result.after.qualified_at) == (
            after_total,
            after_state.qualified,
            after_at,
        )
        assert result.events == len(own)
        if result.changed:
            changed += 1
            assert result.final_state() == after_state
    if candidate is not LIVE:
        assert changed > 0, "the candidate should change some leads, or this test compares too little"
    if candidate is REWEIGHED:
        assert LIVE.index().scoring_key != candidate.index().scoring_key
    else:
        assert LIVE.index().scoring_key == candidate.index().scoring_key

    # Accounts: the worker merges every event into the shared account as it goes.
    accounts: dict[str, AccountState] = {}
    for key, own in people.items():
        person = new_person(key)
        for event in own:
            account_key = account_key_for(person, event)
            account = accounts.get(account_key) if account_key else None
            applied = apply_event(person, account, event, LIVE)
            if applied.duplicate:
                continue
            person = applied.person
            if applied.account is not None:
                accounts[applied.account.account_key] = applied.account
    assert set(joins) == set(accounts)
    assert all(joins[k].state(k) == accounts[k] for k in accounts)
