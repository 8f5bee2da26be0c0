"""Apply one event to a person (and their account) and say what it changed: the heart of scoring.

Pure: no clock, no I/O, inputs never mutated. The worker loads the states, calls :func:`apply_event` for each
event in partition order, and stores what comes back.

Partitions are keyed by person and interleave differently on every run, so the person state and
``Applied.score`` depend only on the person's own events in order (never on the shared account, which holds
colleagues' events from other partitions); the shared account is updated by commutative merges only. What
colleagues do is account context, added to published scores by :func:`with_account_context`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from peerscore.events import AwareDatetime, EngagementEvent, LeadScore

from .decay import decay_factor
from .lines import LineMoves, decide_lines
from .matching import Facts, MatchMemo, matches_memo
from .policy import Transition
from .reasons import build_reasons, line_scores, with_account_context
from .ruleset import FIT, Ruleset
from .scorecard import (
    Scorecard,
    compute_scorecard,
    facts_for,
    group_points,
    matched_fit_rules,
    scorecard_for,
    trim_to_caps,
)
from .state import (
    EMPTY_TALLY,
    RECENT_EVENT_IDS,
    AccountState,
    PersonState,
    RuleTally,
    account_key_for,
    merged_company,
    merged_traits,
)
from .working import AwardRow, WorkingPerson, merge_event


class Award(BaseModel):
    """One score-ledger row: ``points`` as worth at ``occurred_at`` (after caps), decaying from then on."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    group: str
    points: float
    event_id: str
    occurred_at: AwareDatetime
    ruleset_version: str


LedgerEntry = Award | AwardRow
"""A ledger row as the worker writes it: a model from :func:`apply_event`, or a tuple from the working fold."""


class Applied:
    """What one event changed. ``score`` is the stored, deterministic score (no account context); ``account`` the
    merged shared account.

    The full :class:`LeadScore` (with its reasons in words) is built on first access only: a worker publishes
    one score per person per batch and a backtest reads only totals, so most events never need their reasons
    rendered. ``total`` and ``as_of`` are available without building it.
    """

    __slots__ = (
        *("person", "account", "awards", "transition", "duplicate", "card", "as_of", "_ruleset", "_score"),
        "line_transitions",
    )

    def __init__(
        self,
        *,
        person: PersonState,
        account: AccountState | None,
        awards: list[Award],
        transition: Transition | None,
        duplicate: bool,
        card: Scorecard | None = None,
        as_of: datetime | None = None,
        ruleset: Ruleset | None = None,
        score: LeadScore | None = None,
        line_transitions: LineMoves = (),
    ) -> None:
        """Give ``card``, ``as_of`` and ``ruleset`` to build the score lazily, or a ready-made ``score``.
        ``line_transitions``: each product line that qualified or recycled, in line order."""
        self.person, self.account, self.awards = person, account, awards
        self.line_transitions = line_transitions
        self.transition, self.duplicate = transition, duplicate
        self.card, self._ruleset, self._score = card, ruleset, score
        self.as_of = as_of if as_of is not None or score is None else score.as_of

    @property
    def total(self) -> float | None:
        if self.card is not None:
            return self.card.total
        return self._score.total if self._score is not None else None

    def dump(self) -> dict[str, Any]:
        """Everything this application decided, as JSON-ready data (for comparisons in replays and tests)."""
        score = self.score
        return {
            "person": self.person.model_dump(mode="json"),
            "account": self.account.model_dump(mode="json") if self.account is not None else None,
            "awards": [a.model_dump(mode="json") for a in self.awards],
            "score": score.model_dump(mode="json") if score is not None else None,
            "transition": self.transition,
            "line_transitions": [list(move) for move in self.line_transitions],
            "duplicate": self.duplicate,
        }

    @property
    def score(self) -> LeadScore | None:
        if self._score is None and self.card is not None:
            assert self._ruleset is not None and self.as_of is not None
            self._score = _lead_score(self.person, self._ruleset, self.as_of, self.card)
        return self._score


@dataclass(frozen=True, slots=True)
class ProfileStep:
    """The ruleset-independent half of applying one event: who the person is after it, and when it counts.

    A backtest scores every event under two rulesets; the profile (traits, company, account, dedup ids) does not
    depend on the ruleset, so it is advanced once and scored twice (:func:`score_step`), with one ``facts`` and
    one condition-match memo for both.
    """

    before: PersonState
    person: PersonState
    """``before`` with the event's profile changes; its ``rules`` and ``qualified`` are still ``before``'s."""
    event: EngagementEvent
    at: datetime
    facts: Facts
    matched: MatchMemo
    """Event-rule matches on ``facts``, shared by the rulesets scoring this step."""
    fit_before: MatchMemo
    fit_after: MatchMemo
    """Fit-rule matches on ``before``'s and ``person``'s profiles, likewise shared."""
    profile_changed: bool
    """Whether anything fit reads (email, traits, company, account) differs between ``before`` and ``person``."""


@dataclass(frozen=True, slots=True)
class ScoredStep:
    """The ruleset-dependent half: the rule tallies, qualification and ledger rows after the event."""

    rules: dict[str, RuleTally]
    qualified: bool
    awards: list[Award]
    transition: Transition | None
    card: Scorecard
    qualified_lines: tuple[str, ...] = ()
    line_transitions: LineMoves = ()


def advance_profile(person: PersonState, event: EngagementEvent) -> ProfileStep:
    """Fold the event into the person's profile; the caller has already skipped duplicates (see
    :func:`apply_event`). Raises ``ValueError`` when the event is not this person's."""
    if event.person_key != person.person_key:
        raise ValueError(f"event {event.event_id} is for another person")
    key = account_key_for(person, event)
    # Score time never moves backwards: a late event is folded in, decayed forward to the newest time seen.
    last = person.last_event_at
    at = event.occurred_at if last is None or event.occurred_at > last else last
    after = person.model_copy(
        update={
            "version": person.version + 1,
            "email": event.person.email or person.email,
            "traits": merged_traits(person.traits, event.traits),
            "company": merged_company(person, key, event.account),
            "account_key": key,
            "last_event_at": at,
            "recent_event_ids": [*person.recent_event_ids, event.event_id][-RECENT_EVENT_IDS:],
            "signals": person.signals.after(event),
        }
    )
    changed = not all(
        (old := getattr(person, name)) is (new := getattr(after, name)) or old == new for name in _PROFILE
    )
    return ProfileStep(person, after, event, at, facts_for(after, event.occurred_at, event), {}, {}, {}, changed)


_PROFILE = ("email", "traits", "company", "account_key")


def score_step(
    step: ProfileStep,
    rules: dict[str, RuleTally],
    qualified: bool,
    ruleset: Ruleset,
    lines: tuple[str, ...] = (),
) -> ScoredStep:
    """Score ``step`` under ``ruleset`` for a person whose tallies, qualification and qualified product lines were
    ``rules``/``qualified``/``lines`` before the event (``step.before``'s own, or another ruleset's in a backtest)."""
    tallies, awards = _award(step, rules, ruleset)
    awards = _fit_changes(step, ruleset) + awards
    card = scorecard_for(step.person, tallies, ruleset, step.at, step.fit_after)
    transition = ruleset.qualification.decide(qualified, card.grade, card.activity)
    if transition is not None:
        qualified = transition == "qualified"
    if not ruleset.product_lines:
        return ScoredStep(tallies, qualified, awards, transition, card)
    lines, moves = decide_lines(ruleset.index().lines, card.groups, lines)
    return ScoredStep(tallies, qualified, awards, transition, card, lines, moves)


def apply_event(
    person: PersonState,
    account: AccountState | None,
    event: EngagementEvent,
    ruleset: Ruleset,
    *,
    merge_account: bool = True,
) -> Applied:
    """Fold one event into the states; see the module docstring. ``account`` must be the event's account
    (:func:`account_key_for`) or ``None`` to start it; it is only merged into, never read for the person.

    ``merge_account=False`` leaves the account as given: a caller that joins accounts itself (the backtest,
    once per person, since the merges are commutative) saves a copy of the account per event. One event
    through the working fold (:class:`WorkingPerson`); a worker keeps the working person for its whole batch.
    """
    if event.event_id in person.recent_event_ids:
        return Applied(person=person, account=account, awards=[], transition=None, duplicate=True)
    if event.person_key != person.person_key:
        raise ValueError(f"event {event.event_id} is for another person")
    working = WorkingPerson(person)
    key = working.account_key_for(event)
    if account is not None and account.account_key != key:
        raise ValueError(f"event {event.event_id} belongs to account {key!r}, not {account.account_key!r}")
    if merge_account:
        account = merge_event(account, key, person.person_key, event)
    folded = working.fold(event, ruleset)
    awards = [Award.model_construct(**row._asdict()) for row in folded.awards]
    return Applied(
        person=working.state(),
        account=account,
        awards=awards,
        transition=folded.transition,
        duplicate=False,
        card=folded.card,
        as_of=folded.at,
        ruleset=ruleset,
        line_transitions=folded.line_transitions,
    )


def apply_event_immutable(
    person: PersonState,
    account: AccountState | None,
    event: EngagementEvent,
    ruleset: Ruleset,
    *,
    merge_account: bool = True,
) -> Applied:
    """:func:`apply_event` by immutable steps (:func:`advance_profile`, :func:`score_step`, as the backtest runs
    them): the reference the working fold (:mod:`.working`) is held equal to by the parity tests."""
    if event.event_id in person.recent_event_ids:
        return Applied(person=person, account=account, awards=[], transition=None, duplicate=True)
    step = advance_profile(person, event)
    key = step.person.account_key
    if account is not None and account.account_key != key:
        raise ValueError(f"event {event.event_id} belongs to account {key!r}, not {account.account_key!r}")
    if merge_account:
        account = merge_event(account, key, person.person_key, event)
    scored = score_step(step, person.rules, person.qualified, ruleset, tuple(person.qualified_lines))
    update = {"rules": scored.rules, "qualified": scored.qualified, "qualified_lines": list(scored.qualified_lines)}
    return Applied(
        person=step.person.model_copy(update=update),
        account=account,
        awards=scored.awards,
        transition=scored.transition,
        duplicate=False,
        card=scored.card,
        as_of=step.at,
        ruleset=ruleset,
        line_transitions=scored.line_transitions,
    )


def score_person(person: PersonState, account: AccountState | None, ruleset: Ruleset, as_of: datetime) -> LeadScore:
    """The score as it stands at ``as_of`` (decayed), without applying anything; qualification is the stored one.

    For reads (the API): includes the account context, like published scores.
    """
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware")
    if person.version < 1:
        raise ValueError(f"person {person.person_key} has no applied events to score")
    score = _lead_score(person, ruleset, as_of, compute_scorecard(person, ruleset, as_of))
    return with_account_context(score, person, account, ruleset)


def _lead_score(person: PersonState, ruleset: Ruleset, as_of: datetime, card: Scorecard) -> LeadScore:
    return LeadScore(
        person_key=person.person_key,
        version=person.version,
        fit=card.groups[FIT],
        engagement=card.groups["engagement"],
        intent=card.groups["intent"],
        groups=card.groups,
        total=card.total,
        grade=card.grade,
        level=card.level,
        qualified=person.qualified,
        reasons=build_reasons(person, ruleset, as_of, card.fit_rules),
        ruleset_version=ruleset.version,
        as_of=as_of,
        account_key=person.account_key,
        lines=line_scores(person, ruleset, as_of, card.groups, card.fit_rules) if ruleset.product_lines else {},
    )


def _award(
    step: ProfileStep, rules: dict[str, RuleTally], ruleset: Ruleset
) -> tuple[dict[str, RuleTally], list[Award]]:
    """Evaluate event rules in order; each award is trimmed to its rule's and group's caps at time ``step.at``."""
    event, at, facts, memo = step.event, step.at, step.facts, step.matched
    tallies = dict(rules)
    awards: list[Award] = []
    index = ruleset.index()
    canonical = index.aliases.get(event.type) if index.aliases else None
    if canonical is not None:  # another wording of an action a rule scores: score it as that action
        event = event.model_copy(update={"type": canonical})
        facts, memo = replace(facts, event=event), {}  # the shared memo holds matches of the wording as sent
    for rule, condition, half_life in index.scoring_plan(event.type, event.name):
        if not matches_memo(condition, facts, memo):
            continue
        tally = tallies.get(rule.id, EMPTY_TALLY)
        # Points earned at occurred_at are worth less by `at` when the event arrived late.
        carry = decay_factor(event.occurred_at, at, half_life)
        amount = 0.0
        if carry > 0 and (rule.repeatable or tally.count == 0):
            amount = trim_to_caps(
                rule,
                ruleset,
                rule.points * carry,
                tally.value_at(at, half_life),
                group_points(tallies, ruleset, rule.group, at),
            )
        tallies[rule.id] = tally.record(occurred_at=event.occurred_at, award=amount, at=at, half_life_days=half_life)
        if amount != 0:
            awards.append(
                Award(
                    rule_id=rule.id,
                    group=rule.group,
                    points=amount / carry,
                    event_id=event.event_id,
                    occurred_at=event.occurred_at,
                    ruleset_version=ruleset.version,
                )
            )
    return tallies, awards


def _fit_changes(step: ProfileStep, ruleset: Ruleset) -> list[Award]:
    """Ledger rows for fit: +points when a fit rule starts to hold, -points when it stops.

    Fit does not decay, so the clamped sum of these rows is the fit score: every point has a ledger row.
    """
    before, after, event, at = step.before, step.person, step.event, step.at
    if before.version > 0 and not step.profile_changed:
        return []
    held = {r.id for r in matched_fit_rules(before, ruleset, at, step.fit_before)} if before.version > 0 else set()
    now = {r.id: r for r in matched_fit_rules(after, ruleset, at, step.fit_after)}
    changes = [(rule, rule.points) for rule_id, rule in now.items() if rule_id not in held]
    changes += [(rule, -rule.points) for rule in ruleset.all_rules() if rule.id in held and rule.id not in now]
    return [
        Award(
            rule_id=rule.id,
            group=FIT,
            points=points,
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            ruleset_version=ruleset.version,
        )
        for rule, points in changes
        if points != 0
    ]
