"""Does a condition set hold for these facts? Pure functions over the ruleset's condition models.

A missing attribute never matches (an unknown seniority is not "VP"), so negative fit rules only fire on
evidence, not on absence of data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peerscore.events import EngagementEvent, PersonTraits

from .conditions import AccountConditions, Conditions, PersonConditions, PropertyCondition
from .state import AccountState, normalise_domain


@dataclass(frozen=True)
class Facts:
    """What rules may look at: the person's attributes, their own view of their company
    (:meth:`PersonState.company_view`, never the shared account) and, for event rules, the event.
    """

    person_key: str
    traits: PersonTraits
    email_domain: str | None
    account: AccountState | None
    at: datetime
    event: EngagementEvent | None = None


_OWN_EVENT_FIELDS = ("type", "name", "properties", "url_matches", "title_matches")


def _in(value: object, choices: list[str]) -> bool:
    return isinstance(value, str) and value.strip().lower() in choices


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, str):
        return isinstance(actual, str) and actual.strip().lower() == expected.strip().lower()
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    number = _number(actual)
    return number is not None and number == float(expected)


def property_matches(condition: PropertyCondition, actual: Any) -> bool:
    if actual is None:
        return False
    if condition.equals is not None and not _same(actual, condition.equals):
        return False
    if condition.in_ is not None and not any(_same(actual, choice) for choice in condition.in_):
        return False
    if condition.min is not None or condition.max is not None:
        number = _number(actual)
        if number is None:
            return False
        if condition.min is not None and number < condition.min:
            return False
        if condition.max is not None and number > condition.max:
            return False
    return True


def person_matches(condition: PersonConditions, facts: Facts) -> bool:
    traits = facts.traits
    pattern = condition.title_pattern
    if pattern is not None and (traits.title is None or pattern.search(traits.title) is None):
        return False
    checks = (
        (condition.seniority, traits.seniority),
        (condition.function, traits.function),
        (condition.country, traits.country),
        (condition.email_domain, facts.email_domain),
    )
    return all(choices is None or _in(value, choices) for choices, value in checks)


def account_matches(condition: AccountConditions, account: AccountState | None) -> bool:
    if account is None:
        return False
    if condition.employees is not None and (
        account.employees is None or not condition.employees.contains(account.employees)
    ):
        return False
    domain = normalise_domain(account.domain) or account.account_key
    checks = (
        (condition.industry, account.industry),
        (condition.region, account.region),
        (condition.domain, domain),
    )
    return all(choices is None or _in(value, choices) for choices, value in checks)


def _event_matches(condition: Conditions, event: EngagementEvent) -> bool:
    if condition.type is not None and event.type.lower() not in condition.type:
        return False
    if condition.name is not None and not _in(event.name, condition.name):
        return False
    properties = event.properties
    for key, test in (condition.properties or {}).items():
        if not property_matches(test, properties.get(key)):
            return False
    url = condition.url_pattern
    if url is not None:
        places = [properties.get("url"), properties.get("path")]
        if not any(isinstance(p, str) and url.search(p) for p in places):
            return False
    title = condition.title_pattern
    if title is not None:
        page_title = properties.get("title")
        if not isinstance(page_title, str) or title.search(page_title) is None:
            return False
    return True


def matches(condition: Conditions, facts: Facts) -> bool:
    """True when every listed condition holds (event conditions never hold without an event)."""
    if facts.event is None:
        if any(getattr(condition, name) is not None for name in _OWN_EVENT_FIELDS):
            return False
    elif not _event_matches(condition, facts.event):
        return False
    if condition.person is not None and not person_matches(condition.person, facts):
        return False
    if condition.account is not None and not account_matches(condition.account, facts.account):
        return False
    if condition.any is not None and not any(matches(alternative, facts) for alternative in condition.any):
        return False
    return True
