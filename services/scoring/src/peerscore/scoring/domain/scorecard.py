"""From state to numbers: group points, grade, level and total at a given time.

Shared by :func:`apply_event` (score as of the event) and :func:`score_person` (score as of a read), so a lead
shown in the console and the one sent to the CRM are computed by the same code. Only the person state is read
(fit sees the person's own company view), so the result is a pure fold of the person's own events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from peerscore.events import EngagementEvent, Grade

from .matching import Facts, matches
from .ruleset import FIT, Rule, Ruleset
from .state import PersonState, RuleTally


@dataclass(frozen=True)
class Scorecard:
    """``total`` = every group's (capped) points, fit included; ``activity`` = the activity groups only."""

    groups: dict[str, float]
    fit_rules: list[Rule]
    activity: float
    total: float
    grade: Grade
    level: int


def facts_for(person: PersonState, at: datetime, event: EngagementEvent | None = None) -> Facts:
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


def _activity_points(tallies: Mapping[str, RuleTally], ruleset: Ruleset, at: datetime) -> dict[str, float]:
    """:func:`group_points` of every non-fit group in one pass over the person's tallies."""
    index = ruleset.index()
    group_of, half_life = index.group_of, index.half_life
    points = {name: 0.0 for name in half_life if name != FIT}
    for rule_id, tally in tallies.items():
        group = group_of.get(rule_id)
        if group is not None and group != FIT:
            points[group] += tally.value_at(at, half_life[group])
    return points


def _clamp(value: float, cap: float | None) -> float:
    value = max(0.0, value)
    return min(value, cap) if cap is not None else value


def matched_fit_rules(person: PersonState, ruleset: Ruleset, as_of: datetime) -> tuple[Rule, ...]:
    """The fit rules that hold for the person's profile (attributes only: no event, no time), cached by profile."""
    profile = (person.traits, person.company, person.email_domain, person.account_key)
    cache = ruleset.fit_rules_cache()
    found = cache.get(profile)
    if found is None:
        facts = facts_for(person, as_of)
        found = tuple(rule for rule in ruleset.all_rules() if rule.group == FIT and matches(rule.when, facts))
        cache[profile] = found
    return found


def compute_scorecard(person: PersonState, ruleset: Ruleset, as_of: datetime) -> Scorecard:
    fit_rules = list(matched_fit_rules(person, ruleset, as_of))
    activity_points = _activity_points(person.rules, ruleset, as_of)
    groups: dict[str, float] = {}
    for name, spec in ruleset.groups.items():
        raw = sum(rule.points for rule in fit_rules) if name == FIT else activity_points[name]
        groups[name] = round(_clamp(raw, spec.cap), 2)
    activity = round(sum(groups[name] for name in ruleset.activity_groups()), 2)
    return Scorecard(
        groups=groups,
        fit_rules=fit_rules,
        activity=activity,
        total=round(sum(groups.values()), 2),
        grade=ruleset.grades.grade(groups[FIT]),
        level=ruleset.levels.level(activity),
    )
