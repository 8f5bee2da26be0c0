"""Does a condition set hold for these facts? Pure functions over the ruleset's condition models.

A missing attribute never matches (an unknown seniority is not "VP"), so negative fit rules only fire on
evidence, not on absence of data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peerscore.events import EngagementEvent, PersonTraits

from .conditions import AccountConditions, Conditions, PropertyCondition
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


@dataclass(frozen=True, slots=True)
class _Person:
    title: re.Pattern[str] | None
    seniority: frozenset[str] | None
    function: frozenset[str] | None
    country: frozenset[str] | None
    email_domain: frozenset[str] | None


@dataclass(frozen=True, slots=True, eq=False)
class _Compiled:
    """A condition set flattened into plain slots once, so matching reads no pydantic attributes per event.

    Compared and hashed by identity: it is a memo key (:func:`matches_memo`).
    """

    uses_event: bool
    types: frozenset[str] | None
    names: frozenset[str] | None
    properties: tuple[tuple[str, PropertyCondition], ...]
    url: re.Pattern[str] | None
    title: re.Pattern[str] | None
    person: _Person | None
    account: AccountConditions | None
    any: tuple[_Compiled, ...] | None


_COMPILED: dict[int, _Compiled] = {}
_BY_CONTENT: dict[str, _Compiled] = {}
_COMPILED_LIMIT = 100_000


def _choices(values: list[str] | None) -> frozenset[str] | None:
    return frozenset(values) if values is not None else None


_SOURCES: dict[int, Conditions] = {}
"""The condition each ``_COMPILED`` entry was made for: keeps it alive, so its ``id`` (the key) is not reused."""


def _compile(condition: Conditions) -> _Compiled:
    hit = _COMPILED.get(id(condition))
    if hit is not None and _SOURCES.get(id(condition)) is condition:
        return hit
    # Equal conditions of different rulesets (a draft and the live one) share one compiled object, so a
    # backtest's match memo (matches_memo) evaluates each distinct condition once per event.
    content = condition.model_dump_json()
    compiled = _BY_CONTENT.get(content) or _flatten(condition)
    if len(_COMPILED) >= _COMPILED_LIMIT:
        _COMPILED.clear()
        _BY_CONTENT.clear()
        _SOURCES.clear()
    _COMPILED[id(condition)] = compiled
    _BY_CONTENT[content] = compiled
    _SOURCES[id(condition)] = condition
    return compiled


def _flatten(condition: Conditions) -> _Compiled:
    person = condition.person
    return _Compiled(
        uses_event=any(getattr(condition, name) is not None for name in _OWN_EVENT_FIELDS),
        types=_choices(condition.type),
        names=_choices(condition.name),
        properties=tuple((condition.properties or {}).items()),
        url=condition.url_pattern,
        title=condition.title_pattern,
        person=None
        if person is None
        else _Person(
            person.title_pattern,
            _choices(person.seniority),
            _choices(person.function),
            _choices(person.country),
            _choices(person.email_domain),
        ),
        account=condition.account,
        any=tuple(_compile(alternative) for alternative in condition.any) if condition.any else None,
    )


def _in(value: object, choices: frozenset[str]) -> bool:
    return isinstance(value, str) and value.strip().lower() in choices


def person_matches(condition: _Person, facts: Facts) -> bool:
    traits = facts.traits
    if condition.title is not None and (traits.title is None or condition.title.search(traits.title) is None):
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
        (_choices(condition.industry), account.industry),
        (_choices(condition.region), account.region),
        (_choices(condition.domain), domain),
    )
    return all(choices is None or _in(value, choices) for choices, value in checks)


def _event_matches(condition: _Compiled, event: EngagementEvent) -> bool:
    if condition.types is not None and event.type.lower() not in condition.types:
        return False
    if condition.names is not None and not _in(event.name, condition.names):
        return False
    properties = event.properties
    for key, test in condition.properties:
        if not property_matches(test, properties.get(key)):
            return False
    if condition.url is not None:
        url = condition.url
        if not any(isinstance(p, str) and url.search(p) for p in (properties.get("url"), properties.get("path"))):
            return False
    if condition.title is not None:
        page_title = properties.get("title")
        if not isinstance(page_title, str) or condition.title.search(page_title) is None:
            return False
    return True


def matches(condition: Conditions, facts: Facts) -> bool:
    """True when every listed condition holds (event conditions never hold without an event)."""
    return _matches(_compile(condition), facts)


MatchMemo = dict[_Compiled, bool]
"""Match results for one ``Facts``, by compiled condition."""


def compiled(condition: Conditions) -> _Compiled:
    """The condition flattened for matching (cached; equal conditions share one), for callers that keep it."""
    return _compile(condition)


def matches_memo(condition: Conditions | _Compiled, facts: Facts, memo: MatchMemo) -> bool:
    """:func:`matches`, remembered in ``memo`` (one per facts): equal conditions of two rulesets (a backtest's
    live and draft) are evaluated once. Takes a condition or its :func:`compiled` form."""
    flat = condition if isinstance(condition, _Compiled) else _compile(condition)
    found = memo.get(flat)
    if found is None:
        found = memo[flat] = _matches(flat, facts)
    return found


def _matches(condition: _Compiled, facts: Facts) -> bool:
    if facts.event is None:
        if condition.uses_event:
            return False
    elif not _event_matches(condition, facts.event):
        return False
    if condition.person is not None and not person_matches(condition.person, facts):
        return False
    if condition.account is not None and not account_matches(condition.account, facts.account):
        return False
    if condition.any is not None and not any(_matches(alternative, facts) for alternative in condition.any):
        return False
    return True


def event_part_matches(condition: Conditions | _Compiled, event: EngagementEvent) -> bool:
    """Whether the *event-level* part of a condition (type, name, properties, url/title patterns) holds for this
    event, person and account conditions taken as met: whether a rule scores this kind of event for someone.
    An ``any`` holds when one alternative's event part does."""
    flat = condition if isinstance(condition, _Compiled) else _compile(condition)
    if not _event_matches(flat, event):
        return False
    return flat.any is None or any(event_part_matches(alternative, event) for alternative in flat.any)
