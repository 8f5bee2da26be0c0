"""Replay one canonical person's history under the live and the candidate ruleset with the worker's step.

Each row goes through :func:`apply_step`, as in the worker. For plain events that is :func:`apply_event`, i.e.
:func:`advance_profile` (ruleset-independent) then :func:`score_step`; a replay runs the first once per event and
the second per ruleset. Opt-outs, opt-ins and merge markers (rare) run :func:`apply_step` once per ruleset, a
marker after folding the merged key's own stream under both. Both sides see the same events in the same
(partition, offset) order, so duplicates are skipped identically and the only difference is the ruleset.
Accounts are joined alongside as plain data (:class:`AccountJoin`, once, since account merges never depend on the
ruleset) for the account context of the listed leads; person state never reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from peerscore.events import AccountHints, EngagementEvent, is_system_event
from peerscore.scoring.domain import AccountState, PersonState, Ruleset, new_account, new_person
from peerscore.scoring.domain.engine import ProfileStep, ScoredStep, advance_profile, score_step
from peerscore.scoring.domain.lines import LineMoves, decide_lines
from peerscore.scoring.domain.state import RuleTally, Stamp, hinted_attributes
from peerscore.scoring.identity.merge import Transfer
from peerscore.scoring.identity.replay import PersonHistory, marker_source
from peerscore.scoring.identity.step import TRANSFER_TYPES, apply_step, step_route


@dataclass(slots=True)
class Side:
    """How one ruleset judged a person: the final stored total and qualification, and when it qualified.

    ``rules`` (the tallies) is needed only while folding and is dropped after (results travel between
    processes, and tallies are most of a person's size).
    """

    rules: dict[str, RuleTally] = field(default_factory=dict)
    total: float = 0.0
    qualified: bool = False
    qualified_at: list[datetime] = field(default_factory=list)
    lines: tuple[str, ...] = ()
    """The product lines qualified now (sorted)."""
    line_qualified_at: dict[str, list[datetime]] = field(default_factory=dict)
    """When each product line qualified (a line absent never did)."""

    @property
    def status(self) -> str:
        if self.qualified:
            return "qualified"
        return "recycled" if self.qualified_at else "not qualified"

    def score(self, step: ProfileStep, ruleset: Ruleset) -> ScoredStep:
        """The production :func:`score_step` for this side's ruleset and state."""
        scored = score_step(step, self.rules, self.qualified, ruleset, self.lines)
        self.rules, self.qualified, self.total = scored.rules, scored.qualified, scored.card.total
        if scored.transition == "qualified":
            self.qualified_at.append(step.at)
        if ruleset.product_lines:
            self.lines = scored.qualified_lines
            self._line_moves(scored.line_transitions, step.at)
        return scored

    def _line_moves(self, moves: LineMoves, at: datetime) -> None:
        for line, move in moves:
            if move == "qualified":
                self.line_qualified_at.setdefault(line, []).append(at)

    def state(self, profile: PersonState) -> PersonState:
        """The person as the worker holds it under this side's ruleset: the shared profile with its tallies."""
        update = {"rules": self.rules, "qualified": self.qualified, "qualified_lines": list(self.lines)}
        return profile.model_copy(update=update)

    def step(
        self, profile: PersonState, event: EngagementEvent, ruleset: Ruleset, transfer: Transfer | None
    ) -> PersonState | None:
        """An opt-out, opt-in or merge marker through :func:`apply_step` with this side's state (``transfer``:
        the merged key as this side's ruleset folded it); the profile after it, ``None`` if nothing applied."""
        applied = apply_step(self.state(profile), None, event, ruleset, transfer)
        if applied is None or applied.duplicate:
            return None
        self.rules, self.qualified = applied.person.rules, applied.person.qualified
        self.lines = tuple(applied.person.qualified_lines)
        self.total = applied.total or 0.0
        if applied.transition == "qualified" and applied.as_of is not None:
            self.qualified_at.append(applied.as_of)
        if applied.as_of is not None:
            self._line_moves(applied.line_transitions, applied.as_of)
        return applied.person

    def qualify_as(self, step: ProfileStep, scored: ScoredStep, ruleset: Ruleset) -> None:
        """Take ``scored`` (another ruleset's step with the same :attr:`RulesetIndex.scoring_key`, so the same
        tallies and scorecard as :meth:`score` would compute) and decide only the qualification, as
        :func:`score_step` does."""
        card = scored.card
        transition = ruleset.qualification.decide(self.qualified, card.grade, card.activity)
        self.rules, self.total = scored.rules, card.total
        if transition is not None:
            self.qualified = transition == "qualified"
            if transition == "qualified":
                self.qualified_at.append(step.at)
        if ruleset.product_lines:
            self.lines, moves = decide_lines(ruleset.index().lines, card.groups, self.lines)
            self._line_moves(moves, step.at)


@dataclass(slots=True)
class PersonResult:
    person_key: str
    email: str | None
    events: int
    before: Side
    after: Side
    person_after: str | None = None
    """The candidate's final state as JSON, kept only when the qualification changed (and, past
    :func:`keep_listable`, only for leads the report can list): what the reasons in words are built from. JSON
    because results cross processes, and unpickling thousands of nested models costs more than parsing the few
    listed."""

    def final_state(self) -> PersonState | None:
        return PersonState.model_validate_json(self.person_after) if self.person_after is not None else None

    @property
    def changed(self) -> bool:
        return self.before.status != self.after.status


@dataclass(slots=True)
class _Replay:
    """One canonical person's replay under both rulesets (see :func:`fold_person`)."""

    history: PersonHistory
    live: Ruleset
    candidate: Ruleset
    same_scoring: bool
    activity: dict[str, list[EngagementEvent]] = field(default_factory=dict)
    rows: int = 0

    def fold(self, key: str, folding: frozenset[str]) -> tuple[PersonState, Side, Side]:
        """``key``'s stream folded under both rulesets: the shared profile and each ruleset's side."""
        profile = new_person(key)
        before, after = Side(), Side()
        for event in self.history.stream(key):
            self.rows += 1
            route = step_route(profile, event)
            if route == "apply":
                if event.event_id in profile.recent_event_ids:
                    continue  # a duplicate, skipped alike by both rulesets
                step = advance_profile(profile, event)
                profile = step.person
                if profile.account_key is not None and not is_system_event(event.type):
                    self.activity.setdefault(profile.account_key, []).append(event)
                scored = before.score(step, self.live)
                if self.same_scoring:  # a draft that only moves the qualification bar: same points, own decisions
                    after.qualify_as(step, scored, self.candidate)
                else:
                    after.score(step, self.candidate)
                continue
            changed = self._step_sides(key, profile, event, before, after, folding)
            if changed is not None:
                profile = changed
                if route != "transfer" and profile.account_key is not None and not is_system_event(event.type):
                    self.activity.setdefault(profile.account_key, []).append(event)
        return profile, before, after

    def _step_sides(
        self, key: str, profile: PersonState, event: EngagementEvent, before: Side, after: Side, folding: frozenset[str]
    ) -> PersonState | None:
        """A consent event or merge marker through :func:`apply_step` per side; a marker's merged key is folded
        under both rulesets first. Returns the profile after it (``None``: not applied, under either ruleset)."""
        mine: Transfer | None = None
        theirs: Transfer | None = None
        if event.type in TRANSFER_TYPES:
            marker = marker_source(event)
            source, source_before, source_after = new_person(marker.source_key), Side(), Side()
            if marker.source_key not in folding:  # a loop cannot be written live; it merges nothing
                source, source_before, source_after = self.fold(marker.source_key, folding | {key})
            mine, theirs = marker.transfer(source_before.state(source)), marker.transfer(source_after.state(source))
        applied = before.step(profile, event, self.live, mine)
        if applied is not None:
            after.step(profile, event, self.candidate, theirs)
        return applied


def fold_person(
    history: PersonHistory,
    live: Ruleset,
    candidate: Ruleset,
    accounts: dict[str, AccountJoin],
) -> PersonResult:
    """Fold a canonical person's history (merged keys folded in at their markers); ``accounts`` is updated in
    place like the worker's batch map.

    Exactly :func:`apply_step` per side. For plain events (most of them) it is :func:`apply_event`, whose profile
    half (:func:`advance_profile`) does not depend on the ruleset, so it runs once per event and both rulesets
    score it (:func:`score_step`); when the candidate differs only in its qualification policy (the most common
    draft: moving the MQL bar), its points are the live ones and only the decisions are its own. Opt-outs and
    merges go through :func:`apply_step` once per side. A parity test holds all of this equal to the worker.
    """
    replay = _Replay(history, live, candidate, live.index().scoring_key == candidate.index().scoring_key)
    profile, before, after = replay.fold(history.key, frozenset())
    _join_accounts(history.key, replay.activity, accounts)
    result = PersonResult(history.key, profile.email, replay.rows - history.added, before, after)
    rules, before.rules, after.rules = after.rules, {}, {}
    if result.changed:  # the final state: reasons in words are built only for the leads the report lists
        update = {"rules": rules, "qualified": after.qualified, "qualified_lines": list(after.lines)}
        final = profile.model_copy(update=update)
        result.person_after = final.model_dump_json()
    return result


def listing_order(p: PersonResult) -> tuple[float, str]:
    """The report lists changed leads highest candidate total first (then by key, so the order is total)."""
    return (-p.after.total, p.person_key)


def keep_listable(people: list[PersonResult], limit: int) -> None:
    """Drop the final states of changed leads that cannot make the report's first ``limit`` (only those get
    reasons): the global first ``limit`` are among each range's first ``limit``."""
    changed = sorted((p for p in people if p.person_after is not None), key=listing_order)
    for p in changed[limit:]:
        p.person_after = None


@dataclass(slots=True)
class AccountJoin:
    """What a backtest's people merged into one account, as plain data: per attribute the value of the latest
    event ``(occurred_at, event_id)`` and per person the latest activity. Joining is a max per entry, so
    ranges folded in any order (and in other processes) give the same result; :meth:`state` builds the
    :class:`AccountState` the worker's ``with_hints``/``with_activity`` merges would have, for the few
    accounts a report needs.
    """

    attributes: dict[str, tuple[Stamp, Any]] = field(default_factory=dict)
    active: dict[str, datetime] = field(default_factory=dict)

    def hint(self, hints: AccountHints, stamp: Stamp) -> None:
        """:meth:`AccountState.with_hints`, on plain data."""
        for name, value in hinted_attributes(hints):
            held = self.attributes.get(name)
            if held is None or stamp > held[0]:
                self.attributes[name] = (stamp, value)

    def seen(self, person_key: str, at: datetime) -> None:
        previous = self.active.get(person_key)
        if previous is None or at > previous:
            self.active[person_key] = at

    def absorb(self, other: AccountJoin) -> None:
        for name, (stamp, value) in other.attributes.items():
            held = self.attributes.get(name)
            if held is None or stamp > held[0]:
                self.attributes[name] = (stamp, value)
        for person_key, at in other.active.items():
            self.seen(person_key, at)

    def state(self, key: str) -> AccountState:
        account = new_account(key)
        for name, (stamp, value) in self.attributes.items():
            account = account.with_hints(AccountHints.model_validate({name: value}), *stamp)
        return account.merge_activity(self.active)


def _join_accounts(
    person_key: str, activity: dict[str, list[EngagementEvent]], accounts: dict[str, AccountJoin]
) -> None:
    """What ``apply_event`` would have merged into each account, once per account: hints per event (last writer
    by event time wins, whatever the order) and the person's latest activity (a max)."""
    for key, account_events in activity.items():
        join = accounts.get(key)
        if join is None:
            join = accounts[key] = AccountJoin()
        for event in account_events:
            join.hint(event.account, (event.occurred_at, event.event_id))
        join.seen(person_key, max(e.occurred_at for e in account_events))
