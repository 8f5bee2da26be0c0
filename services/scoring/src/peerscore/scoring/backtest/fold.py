"""Replay one person's events under the live and the candidate ruleset with the production ``apply_event``.

Both folds see the same events in the same (partition, offset) order, so duplicates are skipped identically and
the only difference is the ruleset. Accounts are folded alongside (once, since account merges never depend on
the ruleset) for the account context of the listed leads; person state never reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from peerscore.events import EngagementEvent, LeadScore, is_system_event
from peerscore.scoring.domain import (
    AccountState,
    Applied,
    PersonState,
    Ruleset,
    account_key_for,
    apply_event,
    new_account,
    new_person,
)


@dataclass(slots=True)
class Side:
    """How one ruleset judged a person: the final stored total and qualification, and when it qualified."""

    total: float = 0.0
    qualified: bool = False
    qualified_at: list[datetime] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.qualified:
            return "qualified"
        return "recycled" if self.qualified_at else "not qualified"

    def record(self, applied: Applied) -> None:
        if applied.total is not None:
            self.total = applied.total
        self.qualified = applied.person.qualified
        if applied.transition == "qualified" and applied.as_of is not None:
            self.qualified_at.append(applied.as_of)


@dataclass(slots=True)
class PersonResult:
    person_key: str
    email: str | None
    events: int
    before: Side
    after: Side
    person_after: PersonState | None = None
    """Kept only when the qualification changed: what the account context and reasons are built from."""
    score_after: LeadScore | None = None

    @property
    def changed(self) -> bool:
        return self.before.status != self.after.status


def fold_person(
    person_key: str,
    events: Iterable[EngagementEvent],
    live: Ruleset,
    candidate: Ruleset,
    accounts: dict[str, AccountState],
) -> PersonResult:
    """Fold ``events`` (this person's, in order); ``accounts`` is updated in place like the worker's batch map."""
    before_state, after_state = new_person(person_key), new_person(person_key)
    before, after = Side(), Side()
    last_after: Applied | None = None
    count = 0
    activity: dict[str, list[EngagementEvent]] = {}
    for event in events:
        count += 1
        key = account_key_for(before_state, event)
        applied = apply_event(before_state, None, event, live, merge_account=False)
        if applied.duplicate:
            continue  # the candidate has seen the same event ids, so it skips this one too
        before_state = applied.person
        if key is not None and not is_system_event(event.type):
            activity.setdefault(key, []).append(event)
        before.record(applied)
        candidate_applied = apply_event(after_state, None, event, candidate)
        after_state = candidate_applied.person
        after.record(candidate_applied)
        if candidate_applied.card is not None:
            last_after = candidate_applied
    _join_accounts(person_key, activity, accounts)
    result = PersonResult(person_key, after_state.email, count, before, after)
    if result.changed:  # reasons in words only for the few leads listed in the report
        result.person_after = after_state
        result.score_after = last_after.score if last_after is not None else None
    return result


def _join_accounts(
    person_key: str, activity: dict[str, list[EngagementEvent]], accounts: dict[str, AccountState]
) -> None:
    """What ``apply_event`` would have merged into each account, once per account: hints per event (last writer
    by event time wins, whatever the order) and the person's latest activity (a max)."""
    for key, account_events in activity.items():
        account = accounts.get(key) or new_account(key)
        for event in account_events:
            account = account.with_hints(event.account, event.occurred_at, event.event_id)
        accounts[key] = account.with_activity(person_key, max(e.occurred_at for e in account_events))
