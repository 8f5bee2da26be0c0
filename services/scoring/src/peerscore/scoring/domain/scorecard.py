"""From state to numbers: group points, grade, level and total at a given time.

Shared by :func:`apply_event` (score as of the event) and :func:`score_person` (score as of a read), so a lead
shown in the console and the one sent to the CRM are computed by the same code. Only the person state is read
(fit sees the person's own company view), so the result is a pure fold of the person's own events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from peerscore.events import AccountHints, EngagementEvent, Grade, PersonTraits

from .decay import decay_factor
from .matching import Facts, MatchMemo, matches_memo
from .ruleset import FIT, Rule, Ruleset
from .state import AccountState, PersonState, RuleTally


class FitProfile(Protocol):
    """What fit and facts read of a person: a stored :class:`PersonState`, or the working fold's profile
    (:mod:`.working`), which holds the same values without copying the whole state per event."""

    @property
    def person_key(self) -> str: ...
    @property
    def traits(self) -> PersonTraits: ...
    @property
    def company(self) -> AccountHints: ...
    @property
    def email_domain(self) -> str | None: ...
    @property
    def account_key(self) -> str | None: ...
    def company_view(self) -> AccountState | None: ...


@dataclass(frozen=True)
class Scorecard:
    """``total`` = every group's (capped) points, fit included; ``activity`` = the activity groups only."""

    groups: dict[str, float]
    fit_rules: list[Rule]
    activity: float
    total: float
    grade: Grade
    level: int


def facts_for(person: FitProfile, at: datetime, event: EngagementEvent | None = None) -> Facts:
    """What person rules may see: the person, their OWN company view and the event; never colleagues' data."""
    return Facts(
        person_key=person.person_key,
        traits=person.traits,
        email_domain=person.email_domain,
        account=person.company_view(),
        at=at,
        event=event,
    )


def group_points(tallies: Mapping[str, RuleTally], ruleset: Ruleset, group: str, at: datetime) -> float:
    """Uncapped decayed points of an activity group: the sum of its current rules' tallies.

    Tallies of rules no longer in the ruleset are ignored, so removing a rule takes its points away.
    """
    index = ruleset.index()
    half_life, group_of = index.half_life[group], index.group_of
    return sum(tally.value_at(at, half_life) for rule_id, tally in tallies.items() if group_of.get(rule_id) == group)


def _clamp(value: float, cap: float | None) -> float:
    value = max(0.0, value)
    return min(value, cap) if cap is not None else value


def matched_fit_rules(
    person: FitProfile, ruleset: Ruleset, as_of: datetime, memo: MatchMemo | None = None
) -> tuple[Rule, ...]:
    """The fit rules that hold for the person's profile (attributes only: no event, no time), cached by profile.

    ``memo`` (one per profile) lets another ruleset's equal conditions reuse these matches (a backtest).
    """
    index = ruleset.index()
    traits, company, domain, key = person.traits, person.company, person.email_domain, person.account_key
    last = index.last_fit
    if last is not None and last[0] is traits and last[1] is company and last[2] == domain and last[3] == key:
        return last[4]
    cache = ruleset.fit_rules_cache()
    # Keyed by the profile's plain values: hashing and comparing tuples of strings is far cheaper than models.
    profile = (tuple(traits.__dict__.values()), tuple(company.__dict__.values()), domain, key)
    found = cache.get(profile)
    if found is None:
        facts = facts_for(person, as_of)
        memo = {} if memo is None else memo
        found = tuple(r for r in ruleset.all_rules() if r.group == FIT and matches_memo(r.when, facts, memo))
        cache[profile] = found
    index.last_fit = (traits, company, domain, key, found)
    return found


def compute_scorecard(person: PersonState, ruleset: Ruleset, as_of: datetime) -> Scorecard:
    return scorecard_for(person, person.rules, ruleset, as_of)


def scorecard_for(
    profile: FitProfile,
    rules: Mapping[str, RuleTally],
    ruleset: Ruleset,
    as_of: datetime,
    fit_memo: MatchMemo | None = None,
) -> Scorecard:
    """The scorecard of ``profile``'s fit with the tallies ``rules`` (a backtest scores one profile twice)."""
    fit_rules = list(matched_fit_rules(profile, ruleset, as_of, fit_memo))
    index = ruleset.index()
    # One pass over the tallies: the uncapped points of every activity group (group_points of each, at once).
    group_of, half_life = index.group_of, index.half_life
    points = dict.fromkeys(index.activity_names, 0.0)
    for rule_id, tally in rules.items():
        group = group_of.get(rule_id)
        if group is not None and group != FIT and tally.as_of is not None:
            points[group] += tally.value * decay_factor(tally.as_of, as_of, half_life[group])
    return scorecard_from_points(points, fit_rules, ruleset)


def scorecard_from_points(points: dict[str, float], fit_rules: list[Rule], ruleset: Ruleset) -> Scorecard:
    """The card for uncapped activity points per group: fit from ``fit_rules``, each group clamped to [0, its
    cap], then activity, total, grade and level. The immutable and the working fold both end here."""
    index = ruleset.index()
    points[FIT] = sum(rule.points for rule in fit_rules)
    groups = {name: round(_clamp(points[name], cap), 2) for name, cap in index.caps}
    activity = round(sum(groups[name] for name in index.activity_groups), 2)
    return Scorecard(
        groups=groups,
        fit_rules=fit_rules,
        activity=activity,
        total=round(sum(groups.values()), 2),
        grade=ruleset.grades.grade(groups[FIT]),
        level=ruleset.levels.level(activity),
    )


def trim_to_caps(rule: Rule, ruleset: Ruleset, raw: float, rule_now: float, group_now: float) -> float:
    """Keep the rule within ±its cap and the group within [0, its cap]: negative points take back points
    earned, they never push a group below zero.
    """
    group_cap = ruleset.groups[rule.group].cap
    if raw > 0:
        if rule.cap is not None:
            raw = min(raw, rule.cap - rule_now)
        if group_cap is not None:
            raw = min(raw, group_cap - group_now)
        return max(raw, 0.0)
    if rule.cap is not None:
        raw = max(raw, -rule.cap - rule_now)
    return min(max(raw, -group_now), 0.0)
