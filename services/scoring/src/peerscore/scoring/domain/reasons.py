"""Why a lead scores what it does, in sentences a sales rep reads in the CRM.

Each rule may carry a ``reason`` template; counts and periods come from the rule's bounded occurrence history
("Viewed pricing 3× in the last 7 days"). The strongest positive contributions come first, then the single
strongest negative one, because "why not higher?" is the other question sales asks.

Rule reasons are part of the person's stored score, so they read only the person state (company attributes
from the person's own view). The account-level breadth sentence ("2 colleagues at acme.com active this week")
reads the shared account and is added to published scores only (:func:`breadth_reason`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from math import ceil

from peerscore.events import LeadScore, LineScore

from .lines import line_card
from .ruleset import FIT, Rule, Ruleset
from .state import RECENT_OCCURRENCES, AccountState, PersonState, RuleTally, account_breadth

MAX_REASONS = 5
MIN_SHOWN = 0.5
"""Contributions that have decayed below half a point are no longer worth a sentence."""

Contribution = tuple[float, int, Rule, RuleTally | None]
"""A rule's current value for a person, its order in the ruleset, the rule and its tally (``None`` for fit)."""

PERIODS = ((1, "24 hours"), (7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "year"))


def times(count: int, *, at_least: bool = False) -> str:
    """1 → "once", 2 → "twice", 3 → "3×"; ``at_least`` when the bounded history may hold fewer than happened."""
    if at_least:
        return f"{count}+×"
    return {1: "once", 2: "twice"}.get(count, f"{count}×")


def count_and_period(recent: list[datetime], as_of: datetime) -> tuple[int, str]:
    """Occurrences up to ``as_of`` and the shortest usual period that holds them all."""
    past = [t for t in recent if t <= as_of]
    if not past:
        return 0, PERIODS[1][1]
    age = as_of - past[0]
    for days, label in PERIODS:
        if age < timedelta(days=days):
            return len(past), label
    return len(past), f"{ceil(age / timedelta(days=1))} days"


def _attributes(person: PersonState, account: AccountState | None) -> dict[str, object]:
    traits = person.traits
    unknown = "unknown"
    return {
        "title": traits.title or unknown,
        "seniority": traits.seniority or unknown,
        "function": traits.function or unknown,
        "country": traits.country or unknown,
        "employees": account.employees if account and account.employees is not None else unknown,
        "industry": (account.industry if account else None) or unknown,
        "region": (account.region if account else None) or unknown,
        "account": account.account_key if account else unknown,
        "company": (account.name or account.account_key) if account else unknown,
    }


def render(
    rule: Rule,
    person: PersonState,
    as_of: datetime,
    tally: RuleTally | None,
    attributes: dict[str, object] | None = None,
) -> str:
    """The rule's reason with its placeholders filled; the rule id when it has none (or it cannot render).
    ``attributes`` (from :func:`_attributes`) may be passed in when several reasons of one person are rendered."""
    template = rule.reason or rule.description
    if template is None:
        return rule.id.replace("_", " ").replace("-", " ")
    values = dict(attributes if attributes is not None else _attributes(person, person.company_view()))
    if tally is not None:
        count, period = count_and_period(tally.recent, as_of)
        truncated = len(tally.recent) >= RECENT_OCCURRENCES and tally.count > len(tally.recent)
        values |= {
            "times": times(count, at_least=truncated and count == len(tally.recent)),
            "count": count,
            "period": period,
            "total": tally.count,
        }
    try:
        return template.format_map(values)
    except (KeyError, ValueError, IndexError):
        return rule.id


def breadth_reason(person: PersonState, account: AccountState, ruleset: Ruleset, as_of: datetime) -> str | None:
    """The buying-committee sentence when enough OTHER people of the account were active around ``as_of``."""
    breadth = ruleset.breadth
    if breadth is None:
        return None
    colleagues = account_breadth(account, person.person_key, as_of, breadth.window_days)
    if colleagues < breadth.min_colleagues:
        return None
    template = breadth.reason or "{colleagues} colleagues at {company} active in the last {window_days} days"
    values = _attributes(person, account) | {"colleagues": colleagues, "window_days": f"{breadth.window_days:g}"}
    try:
        return template.format_map(values)
    except (KeyError, ValueError, IndexError):
        return f"{colleagues} colleagues active"


def build_reasons(
    person: PersonState,
    ruleset: Ruleset,
    as_of: datetime,
    fit_rules: list[Rule],
    groups: Collection[str] | None = None,
) -> list[str]:
    """The strongest distinct positive sentences, then the strongest negative one; with ``groups``, from those
    groups' rules only (a product line's reasons). Only the sentences shown are rendered (in order of strength
    until enough distinct ones are found): a person often has more contributions than :data:`MAX_REASONS`, and
    rendering is most of this function's cost."""
    matched_fit = {rule.id for rule in fit_rules}
    scored: list[Contribution] = []
    for order, rule in enumerate(ruleset.all_rules()):
        if groups is not None and rule.group not in groups:
            continue
        tally = None
        if rule.group == FIT:
            if rule.id not in matched_fit:
                continue
            value = rule.points
        else:
            tally = person.rules.get(rule.id)
            if tally is None:
                continue
            value = tally.value_at(as_of, ruleset.groups[rule.group].half_life_days)
        if abs(value) >= MIN_SHOWN:
            scored.append((value, order, rule, tally))
    if not scored:
        return []
    attributes = _attributes(person, person.company_view())
    negative = sorted((c for c in scored if c[0] < 0), key=lambda c: (c[0], c[1]))
    positive = sorted((c for c in scored if c[0] > 0), key=lambda c: (-c[0], c[1]))
    negatives = _shown(negative, 1, person, as_of, attributes)
    return _shown(positive, MAX_REASONS - len(negatives), person, as_of, attributes) + negatives


def _shown(
    contributions: list[Contribution], wanted: int, person: PersonState, as_of: datetime, attributes: dict[str, object]
) -> list[str]:
    """The first ``wanted`` distinct sentences of ``contributions`` (strongest first), rendering no more."""
    shown: list[str] = []
    for _, _, rule, tally in contributions:
        if len(shown) == wanted:
            break
        text = render(rule, person, as_of, tally, attributes)
        if text not in shown:
            shown.append(text)
    return shown


def colleagues_active(account: AccountState | None, person_key: str, as_of: datetime, ruleset: Ruleset) -> int:
    """Other people of the account active in the breadth window (7 days without a breadth policy) around ``as_of``:
    what a qualified transition carries for the MQL alert, whether or not it reached the breadth reason."""
    if account is None:
        return 0
    window = ruleset.breadth.window_days if ruleset.breadth is not None else 7.0
    return account_breadth(account, person_key, as_of, window)


def line_scores(
    person: PersonState, ruleset: Ruleset, as_of: datetime, groups: dict[str, float], fit_rules: list[Rule]
) -> dict[str, LineScore]:
    """Each product line's score, grade, level, MQL flag and reasons (``{}`` for a single-line ruleset).

    ``groups`` are the overall card's capped group scores; qualification is the person's stored one per line."""
    plans = ruleset.index().lines
    if not plans:
        return {}
    qualified = set(person.qualified_lines)
    scores: dict[str, LineScore] = {}
    for plan in plans:
        card = line_card(plan, groups)
        scores[plan.name] = LineScore(
            score=card.score,
            activity=card.activity,
            grade=card.grade,
            level=card.level,
            qualified=plan.name in qualified,
            reasons=build_reasons(person, ruleset, as_of, fit_rules, plan.groups),
        )
    return scores


def with_account_context(
    score: LeadScore, person: PersonState, account: AccountState | None, ruleset: Ruleset
) -> LeadScore:
    """``score`` with the breadth reason first (at most :data:`MAX_REASONS` reasons); nothing else changes.

    Account context depends on colleagues' events from other partitions, so it only decorates what is
    published or read, never what is stored. An account other than the person's says nothing about them.
    """
    if account is None or account.account_key != person.account_key:
        return score
    reason = breadth_reason(person, account, ruleset, score.as_of)
    if reason is None:
        return score
    reasons = [reason, *(r for r in score.reasons if r != reason)][:MAX_REASONS]
    return score.model_copy(update={"reasons": reasons})
