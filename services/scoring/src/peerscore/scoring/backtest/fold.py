"""Replay one person's events under the live and the candidate ruleset with the production ``apply_event``.

Both folds see the same events in the same (partition, offset) order, so duplicates are skipped identically and
the only difference is the ruleset. Accounts are folded alongside (once, since account merges never depend on
the ruleset) for the account context of the listed leads; person state never reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from peerscore.events import EngagementEvent, LeadScore
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
        if applied.score is not None:
            self.total = applied.score.total
        self.qualified = applied.person.qualified
        if applied.transition == "qualified" and applied.score is not None:
            self.qualified_at.append(applied.score.as_of)


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
    last_after: LeadScore | None = None
    count = 0
    for event in events:
        count += 1
        key = account_key_for(before_state, event)
        account = (accounts.get(key) or new_account(key)) if key else None
        applied = apply_event(before_state, account, event, live)
        if applied.duplicate:
            continue  # the candidate has seen the same event ids, so it skips this one too
        before_state = applied.person
        if applied.account is not None:
            accounts[applied.account.account_key] = applied.account
        before.record(applied)
        candidate_applied = apply_event(after_state, None, event, candidate)
        after_state = candidate_applied.person
        after.record(candidate_applied)
        last_after = candidate_applied.score or last_after
    result = PersonResult(person_key, after_state.email, count, before, after)
    if result.changed:
        result.person_after, result.score_after = after_state, last_after
    return result
