"""Small builders for scoring-domain tests: events, a compact test ruleset, and a worker-like fold."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from peerscore.events import AccountHints, EngagementEvent, LeadScore, PersonIdentifiers, PersonTraits
from peerscore.scoring.domain import (
    AccountState,
    Applied,
    PersonState,
    Ruleset,
    account_key_for,
    apply_event,
    new_person,
    parse_ruleset,
    with_account_context,
)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

TEST_RULESET = """\
name: test
groups:
  fit: {cap: 100}
  engagement: {cap: 50, half_life_days: 10}
  intent: {cap: 40, half_life_days: 10}
  product_x: {cap: 30}
grades: {A: 60, B: 40, C: 20}
levels: {level_2: 20, level_3: 40}
qualification:
  qualify: {min_grade: B, min_activity: 30}
  recycle: {below_activity: 10}
breadth:
  min_colleagues: 2
  window_days: 7
  reason: "{colleagues} colleagues at {account} active this week"
rules:
  - id: vp
    group: fit
    points: 45
    when: {person: {seniority: [vp]}}
    reason: VP-level title
  - id: big-company
    group: fit
    points: 20
    when: {account: {employees: {min: 200}}}
    reason: Company of {employees} people
  - id: gmail
    group: fit
    points: -25
    when: {person: {email_domain: gmail.com}}
    reason: Personal email address
  - id: pricing
    group: engagement
    points: 10
    cap: 25
    when: {type: page.viewed, url_matches: /pricing}
    reason: Viewed pricing {times} in the last {period}
  - id: demo
    group: engagement
    points: 40
    when: {type: demo.requested}
    reason: Requested a demo
  - id: signup
    group: engagement
    points: 5
    repeatable: false
    when: {type: signed.up}
  - id: careers
    group: engagement
    points: -8
    cap: 12
    when: {type: page.viewed, url_matches: /careers}
    reason: Looked at careers pages
  - id: webinar
    group: product_x
    points: 10
    when: {type: webinar.attended}
    reason: Attended webinars {times}
"""


def small_ruleset(**replace: str) -> Ruleset:
    text = TEST_RULESET
    for old, new in replace.items():
        text = text.replace(old, new)
    return parse_ruleset(text)


def days(n: float) -> timedelta:
    return timedelta(days=n)


_counter = {"n": 0}


def event(
    type: str,
    at: datetime,
    *,
    person: str = "p1",
    event_id: str | None = None,
    url: str | None = None,
    email: str | None = None,
    domain: str | None = None,
    traits: dict[str, Any] | None = None,
    account: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    name: str | None = None,
) -> EngagementEvent:
    if event_id is None:
        _counter["n"] += 1
        event_id = f"evt-{_counter['n']}"
    props = dict(properties or {})
    if url is not None:
        props["url"] = url
    hints = dict(account or {})
    if domain is not None:
        hints["domain"] = domain
    return EngagementEvent(
        event_id=event_id,
        type=type,
        name=name,
        source="test",
        person_key=person,
        occurred_at=at,
        received_at=at,
        person=PersonIdentifiers(email=email),
        traits=PersonTraits(**(traits or {})),
        account=AccountHints(**hints),
        properties=props,
    )


@dataclass
class Fold:
    """Applies events the way the worker does: load person and account state, apply, store, publish."""

    ruleset: Ruleset
    people: dict[str, PersonState] = field(default_factory=dict)
    accounts: dict[str, AccountState] = field(default_factory=dict)
    results: list[Applied] = field(default_factory=list)
    published: list[LeadScore | None] = field(default_factory=list)

    def apply(self, evt: EngagementEvent) -> Applied:
        person = self.people.get(evt.person_key) or new_person(evt.person_key)
        key = account_key_for(person, evt)
        applied = apply_event(person, self.accounts.get(key) if key else None, evt, self.ruleset)
        self.people[evt.person_key] = applied.person
        if applied.account is not None:
            self.accounts[applied.account.account_key] = applied.account
        self.results.append(applied)
        score = applied.score
        self.published.append(
            None if score is None else with_account_context(score, applied.person, applied.account, self.ruleset)
        )
        return applied

    def transitions(self) -> list[str | None]:
        return [r.transition for r in self.results]
