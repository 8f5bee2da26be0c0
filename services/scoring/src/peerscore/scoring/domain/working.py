"""The fold over mutable working state: a person loaded once per batch, their events folded in place.

:func:`~.engine.apply_event` used to build a new frozen :class:`PersonState` (and its tallies, awards and
company view) for every event, which was most of a worker's cost per event. Here a :class:`WorkingPerson` holds
the same values in slotted objects (times also as integer microseconds since the epoch), is folded in place by
:meth:`WorkingPerson.fold`, and turns back into a :class:`PersonState` once, by :meth:`WorkingPerson.state`.

Still pure at the batch level: the working object is private to one fold, nothing reads the clock, and every
number is computed by the same operations in the same order as the immutable path (:func:`~.engine.score_step`),
so states, ledger rows and transitions are bit-for-bit equal (a property test holds them to it). Decay from
microseconds equals decay from datetimes: ``timedelta.total_seconds()`` is the integer microseconds over 10⁶.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel

from peerscore.events import AccountHints, EngagementEvent, PersonTraits, is_system_event

from .activity import SignalDraft
from .decay import SECONDS_PER_DAY
from .lines import LineMoves, decide_lines
from .matching import Facts, MatchMemo, matches_memo
from .policy import Transition
from .ruleset import FIT, Ruleset, RulesetIndex
from .scorecard import Scorecard, matched_fit_rules, scorecard_from_points, trim_to_caps
from .state import (
    RECENT_EVENT_IDS,
    RECENT_OCCURRENCES,
    AccountState,
    PersonState,
    RuleTally,
    company_after,
    event_account_key,
    merged_traits,
    new_account,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


_T = TypeVar("_T", bound=BaseModel)


def _construct(cls: type[_T], values: dict[str, Any]) -> _T:
    """``cls.model_construct(**values)`` for trusted values naming every field in order, without its per-call
    field walk (the working fold builds a state per person per batch and a tally per changed rule)."""
    made = cls.__new__(cls)
    object.__setattr__(made, "__dict__", values)
    object.__setattr__(made, "__pydantic_fields_set__", set(values))
    object.__setattr__(made, "__pydantic_extra__", None)
    object.__setattr__(made, "__pydantic_private__", None)
    return made


def micros(at: datetime) -> int:
    """Microseconds since the epoch, exact (integer arithmetic on the aware datetime)."""
    return (at - _EPOCH) // _MICROSECOND


def decay_us(earlier: int, later: int, half_life_days: float | None) -> float:
    """:func:`~.decay.decay_factor` on microseconds: the same float, without building a timedelta."""
    if half_life_days is None:
        return 1.0
    elapsed = later - earlier
    if elapsed <= 0:
        return 1.0
    return float(2.0 ** (-(elapsed / 1_000_000) / (half_life_days * SECONDS_PER_DAY)))


def merge_event(
    account: AccountState | None, key: str | None, person_key: str, event: EngagementEvent
) -> AccountState | None:
    """The shared account after ``event`` (a commutative merge of its hints and the person's activity)."""
    if key is None or is_system_event(event.type):
        return account
    account = (account or new_account(key)).with_hints(event.account, event.occurred_at, event.event_id)
    return account.with_activity(person_key, event.occurred_at)


class AwardRow(NamedTuple):
    """One score-ledger row as a plain tuple (the fields of :class:`~.engine.Award`, same meaning)."""

    rule_id: str
    group: str
    points: float
    event_id: str
    occurred_at: datetime
    ruleset_version: str


class WorkingTally:
    """A mutable :class:`RuleTally`; ``origin`` is the stored tally while it is unchanged (saved as is)."""

    __slots__ = ("value", "as_of", "as_of_us", "count", "recent", "origin")

    def __init__(self, origin: RuleTally | None = None) -> None:
        self.origin = origin
        if origin is None:
            self.value, self.as_of, self.as_of_us, self.count, self.recent = 0.0, None, 0, 0, []
            return
        self.value, self.as_of, self.count, self.recent = origin.value, origin.as_of, origin.count, origin.recent
        self.as_of_us = micros(origin.as_of) if origin.as_of is not None else 0

    def value_at(self, at_us: int, half_life_days: float | None) -> float:
        if self.as_of is None:
            return 0.0
        return self.value * decay_us(self.as_of_us, at_us, half_life_days)

    def record(self, occurred_at: datetime, award: float, at: datetime, at_us: int, half_life: float | None) -> None:
        """:meth:`RuleTally.record`, in place."""
        recent = list(self.recent) if self.origin is not None else self.recent
        insort(recent, occurred_at)
        if self.as_of is None or at_us >= self.as_of_us:
            as_of, as_of_us = at, at_us
        else:
            as_of, as_of_us = self.as_of, self.as_of_us
        self.value = self.value_at(as_of_us, half_life) + award * decay_us(at_us, as_of_us, half_life)
        self.as_of, self.as_of_us = as_of, as_of_us
        self.count += 1
        del recent[:-RECENT_OCCURRENCES]
        self.recent, self.origin = recent, None

    def state(self) -> RuleTally:
        if self.origin is not None:
            return self.origin
        return _construct(
            RuleTally, {"value": self.value, "as_of": self.as_of, "count": self.count, "recent": list(self.recent)}
        )


class Profile:
    """What fit and facts read of a person (a :class:`~.scorecard.FitProfile`), replaced whole when it changes;
    the company view is built once per profile instead of once per event."""

    __slots__ = ("person_key", "email", "email_domain", "traits", "company", "account_key", "_view")

    def __init__(
        self, person_key: str, email: str | None, traits: PersonTraits, company: AccountHints, account_key: str | None
    ) -> None:
        self.person_key, self.email, self.traits, self.company = person_key, email, traits, company
        self.account_key = account_key
        domain = email.rsplit("@", 1)[1].strip().lower() if email and "@" in email else None
        self.email_domain = domain or None
        self._view: AccountState | None = None

    def company_view(self) -> AccountState | None:
        if self._view is None and self.account_key is not None:
            hints = self.company
            self._view = AccountState.model_construct(
                account_key=self.account_key,
                name=hints.name,
                domain=self.account_key,
                linkedin_org_urn=hints.linkedin_org_urn,
                employees=hints.employees,
                industry=hints.industry,
                region=hints.region,
                stamps={},
                active_people={},
            )
        return self._view

    def after(self, event: EngagementEvent, key: str | None) -> Profile:
        """The profile once ``event`` is folded in (:func:`~.engine.advance_profile`); ``self`` when unchanged."""
        email = event.person.email or self.email
        traits = merged_traits(self.traits, event.traits)
        company = company_after(self.company, self.account_key, key, event.account)
        if (
            key == self.account_key
            and email == self.email
            and (traits is self.traits or traits == self.traits)
            and (company is self.company or company == self.company)
        ):
            return self
        return Profile(self.person_key, email, traits, company, key)


class Folded:
    """What one event changed (``duplicate`` events change nothing): its ledger rows, transition and scorecard
    as of ``at`` (the person's newest event time)."""

    __slots__ = ("awards", "transition", "card", "at", "duplicate", "line_transitions")

    def __init__(
        self,
        awards: list[AwardRow],
        transition: Transition | None,
        card: Scorecard | None,
        at: datetime | None,
        line_transitions: LineMoves = (),
    ) -> None:
        self.awards, self.transition, self.card, self.at = awards, transition, card, at
        self.duplicate = card is None
        self.line_transitions = line_transitions


DUPLICATE = Folded([], None, None, None)


class WorkingPerson:
    """A person's state, mutable for the length of one fold; :meth:`state` is the stored contract again."""

    __slots__ = (
        "person_key",
        "version",
        "profile",
        "qualified",
        "last_event_at",
        "last_us",
        "ids",
        "rules",
        "opted_out",
        "signals",
        "lines",
    )

    def __init__(self, person: PersonState) -> None:
        self.person_key, self.version, self.qualified = person.person_key, person.version, person.qualified
        self.profile = Profile(person.person_key, person.email, person.traits, person.company, person.account_key)
        self.last_event_at = person.last_event_at
        self.last_us = micros(person.last_event_at) if person.last_event_at is not None else 0
        self.ids = list(person.recent_event_ids)
        self.rules = {rule_id: WorkingTally(tally) for rule_id, tally in person.rules.items()}
        self.opted_out = person.opted_out
        self.signals = SignalDraft(person.signals)
        self.lines = tuple(person.qualified_lines)

    def state(self) -> PersonState:
        """The stored shape (fields in declaration order, so it dumps like a validated state)."""
        profile = self.profile
        return _construct(
            PersonState,
            {
                "person_key": self.person_key,
                "version": self.version,
                "email": profile.email,
                "traits": profile.traits,
                "account_key": profile.account_key,
                "company": profile.company,
                "qualified": self.qualified,
                "last_event_at": self.last_event_at,
                "recent_event_ids": list(self.ids),
                "rules": {rule_id: tally.state() for rule_id, tally in self.rules.items()},
                "opted_out": self.opted_out,
                "signals": self.signals.freeze(),
                "qualified_lines": list(self.lines),
            },
        )

    def is_duplicate(self, event: EngagementEvent) -> bool:
        return event.event_id in self.ids

    def account_key_for(self, event: EngagementEvent) -> str | None:
        """:func:`~.state.account_key_for` for this person."""
        return event_account_key(event) or self.profile.account_key

    def fold(self, event: EngagementEvent, ruleset: Ruleset) -> Folded:
        """:func:`~.engine.apply_event`'s effect on the person, in place (the account is the caller's)."""
        if event.event_id in self.ids:
            return DUPLICATE
        if event.person_key != self.person_key:
            raise ValueError(f"event {event.event_id} is for another person")
        before, was_new = self.profile, self.version == 0
        occurred, occurred_us = event.occurred_at, micros(event.occurred_at)
        # Score time never moves backwards: a late event is folded in, decayed forward to the newest time seen.
        if self.last_event_at is None or occurred_us > self.last_us:
            self.last_event_at, self.last_us = occurred, occurred_us
        at, at_us = self.last_event_at, self.last_us
        profile = self.profile = before.after(event, self.account_key_for(event))
        self.version += 1
        self._remember(event.event_id)
        self.signals.observe(event)
        facts = Facts(profile.person_key, profile.traits, profile.email_domain, profile.company_view(), occurred, event)
        awards = _event_awards(self.rules, ruleset, event, facts, at, at_us, occurred_us)
        fit_after: MatchMemo = {}
        if was_new or profile is not before:
            awards = _fit_rows(before, profile, was_new, ruleset, event, at, fit_after) + awards
        card = _scorecard(profile, self.rules, ruleset, at, at_us, fit_after)
        transition = ruleset.qualification.decide(self.qualified, card.grade, card.activity)
        if transition is not None:
            self.qualified = transition == "qualified"
        if not ruleset.product_lines:  # a single-line ruleset: no per-line work at all
            return Folded(awards, transition, card, at)
        self.lines, moves = decide_lines(ruleset.index().lines, card.groups, self.lines)
        return Folded(awards, transition, card, at, moves)

    def _remember(self, event_id: str) -> None:
        ids = self.ids
        ids.append(event_id)
        if len(ids) > RECENT_EVENT_IDS:
            del ids[:-RECENT_EVENT_IDS]


def _group_sum(rules: dict[str, WorkingTally], index: RulesetIndex, group: str, at_us: int) -> float:
    """:func:`~.scorecard.group_points` over working tallies (same terms, same order, so the same float)."""
    half_life, group_of = index.half_life[group], index.group_of
    return sum(tally.value_at(at_us, half_life) for rule_id, tally in rules.items() if group_of.get(rule_id) == group)


def _event_awards(
    rules: dict[str, WorkingTally],
    ruleset: Ruleset,
    event: EngagementEvent,
    facts: Facts,
    at: datetime,
    at_us: int,
    occurred_us: int,
) -> list[AwardRow]:
    """:func:`~.engine._award` in place: each award trimmed to its rule's and group's caps at time ``at``."""
    awards: list[AwardRow] = []
    index = ruleset.index()
    canonical = index.aliases.get(event.type) if index.aliases else None
    if canonical is not None:  # another wording of an action a rule scores: score it as that action
        event = event.model_copy(update={"type": canonical})
        facts = replace(facts, event=event)
    memo: MatchMemo = {}
    occurred = event.occurred_at
    for rule, condition, half_life in index.scoring_plan(event.type, event.name):
        if not matches_memo(condition, facts, memo):
            continue
        tally = rules.get(rule.id)
        # Points earned at occurred_at are worth less by `at` when the event arrived late.
        carry = decay_us(occurred_us, at_us, half_life)
        amount = 0.0
        if carry > 0 and (rule.repeatable or tally is None or tally.count == 0):
            rule_now = tally.value_at(at_us, half_life) if tally is not None else 0.0
            group_now = _group_sum(rules, index, rule.group, at_us)
            amount = trim_to_caps(rule, ruleset, rule.points * carry, rule_now, group_now)
        if tally is None:
            tally = rules[rule.id] = WorkingTally()
        tally.record(occurred, amount, at, at_us, half_life)
        if amount != 0:
            awards.append(AwardRow(rule.id, rule.group, amount / carry, event.event_id, occurred, ruleset.version))
    return awards


def _fit_rows(
    before: Profile,
    after: Profile,
    was_new: bool,
    ruleset: Ruleset,
    event: EngagementEvent,
    at: datetime,
    fit_after: MatchMemo,
) -> list[AwardRow]:
    """:func:`~.engine._fit_changes`: +points when a fit rule starts to hold, -points when it stops."""
    held = set() if was_new else {r.id for r in matched_fit_rules(before, ruleset, at, {})}
    now = {r.id: r for r in matched_fit_rules(after, ruleset, at, fit_after)}
    changes = [(rule, rule.points) for rule_id, rule in now.items() if rule_id not in held]
    changes += [(rule, -rule.points) for rule in ruleset.all_rules() if rule.id in held and rule.id not in now]
    return [
        AwardRow(rule.id, FIT, points, event.event_id, event.occurred_at, ruleset.version)
        for rule, points in changes
        if points != 0
    ]


def _scorecard(
    profile: Profile, rules: dict[str, WorkingTally], ruleset: Ruleset, at: datetime, at_us: int, memo: MatchMemo
) -> Scorecard:
    """:func:`~.scorecard.scorecard_for` over working tallies."""
    fit_rules = list(matched_fit_rules(profile, ruleset, at, memo))
    index = ruleset.index()
    group_of, half_life = index.group_of, index.half_life
    points = dict.fromkeys(index.activity_names, 0.0)
    for rule_id, tally in rules.items():
        group = group_of.get(rule_id)
        if group is not None and group != FIT and tally.as_of is not None:
            points[group] += tally.value * decay_us(tally.as_of_us, at_us, half_life[group])
    return scorecard_from_points(points, fit_rules, ruleset)
