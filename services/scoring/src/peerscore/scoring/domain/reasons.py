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


def render(rule: Rule, person: PersonState, as_of: datetime, tally: RuleTally | None) -> str:
    """The rule's reason with its placeholders filled; the rule id when it has none (or it cannot render)."""
    template = rule.reason or rule.description
    if template is None:
        return rule.id.replace("_", " ").replace("-", " ")
    values = _attributes(person, person.company_view())
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
    """The top reasons; with ``groups``, from those groups' rules only (a product line's reasons)."""
    matched_fit = {rule.id for rule in fit_rules}
    scored: list[tuple[float, int, str]] = []
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
            scored.append((value, order, render(rule, person, as_of, tally)))
    positives = _distinct(sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1])))
    negatives = _distinct(sorted((s for s in scored if s[0] < 0), key=lambda s: (s[0], s[1])))
    if negatives:
        return positives[: MAX_REASONS - 1] + negatives[:1]
    return positives[:MAX_REASONS]


def _distinct(items: list[tuple[float, int, str]]) -> list[str]:
    texts: list[str] = []
    for _, _, text in items:
        if text not in texts:
            texts.append(text)
    return texts


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
