"""Which events no rule scores: aliases and neutral wordings count as handled, event-level conditions decide,
person and account conditions do not, and unscored events are grouped without personal data."""

from __future__ import annotations

from typing import Any

import pytest

from peerscore.events import EngagementEvent, event_type_for
from peerscore.scoring.domain import load_default_ruleset, parse_ruleset
from peerscore.scoring.domain.signals import (
    examples_of,
    is_unscored,
    page_class,
    signal_key,
    strip_ids,
    tally_unscored,
)

from .builders import T0, event

RULESET = parse_ruleset(
    """\
name: signals
groups:
  fit: {cap: 100}
  engagement: {cap: 50, half_life_days: 10}
  intent: {cap: 40, half_life_days: 10}
qualification:
  qualify: {min_activity: 30}
  recycle: {below_activity: 10}
aliases:
  demo.requested: [Requested a Demo, Request Demo]
neutral: [Email Delivered]
rules:
  - id: vp
    group: fit
    points: 20
    when: {person: {seniority: [vp]}}
  - id: pricing
    group: intent
    points: 10
    when: {type: page.viewed, url_matches: /pricing}
  - id: demo
    group: intent
    points: 30
    when: {type: demo.requested}
  - id: vp-webinar
    group: engagement
    points: 5
    when: {type: webinar.attended, person: {seniority: [vp]}}
  - id: big-download
    group: engagement
    points: 5
    when: {type: content.downloaded, properties: {kind: whitepaper}}
  - id: any-careers
    group: engagement
    points: -5
    when:
      any:
        - {title_matches: careers}
        - {name: Job Applied}
"""
)


def _track(name: str, **kwargs: Any) -> EngagementEvent:
    return event(event_type_for(name) or "", T0, name=name, **kwargs)


def test_an_event_no_rule_names_is_unscored() -> None:
    assert is_unscored(_track("Meeting Booked"), RULESET)


def test_an_alias_is_scored_like_its_rule() -> None:
    assert not is_unscored(_track("Requested a Demo"), RULESET)
    assert not is_unscored(_track("Demo Requested"), RULESET)


def test_neutral_system_and_profile_events_are_not_reported() -> None:
    assert not is_unscored(_track("Email Delivered"), RULESET)
    assert not is_unscored(event("system.decay_check", T0), RULESET)
    assert not is_unscored(event("identify", T0), RULESET)
    assert not is_unscored(event("group", T0), RULESET)


def test_url_patterns_decide_for_page_views() -> None:
    assert not is_unscored(event("page.viewed", T0, url="https://x.example/pricing?plan=pro"), RULESET)
    assert is_unscored(event("page.viewed", T0, url="https://x.example/about"), RULESET)


def test_property_conditions_decide_but_person_conditions_do_not() -> None:
    assert not is_unscored(event("content.downloaded", T0, properties={"kind": "whitepaper"}), RULESET)
    assert is_unscored(event("content.downloaded", T0, properties={"kind": "ebook"}), RULESET)
    # Only VPs earn points for a webinar, but the kind of event is scored: not a gap in the ruleset.
    assert not is_unscored(event("webinar.attended", T0), RULESET)


def test_any_alternatives_use_their_event_parts() -> None:
    assert not is_unscored(_track("Job Applied"), RULESET)
    assert not is_unscored(event("page.viewed", T0, properties={"title": "Careers at X"}), RULESET)


@pytest.mark.parametrize("name", ["Email Opened", "Account Created", "Trial Started", "Signed Up"])
def test_the_default_ruleset_scores_common_spec_events(name: str) -> None:
    assert not is_unscored(_track(name), load_default_ruleset())


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/pricing", "pricing"),
        ("/en/plans/team", "pricing"),
        ("/book-a-demo", "demo"),
        ("/compare/acme-vs-us", "comparison"),
        ("/customers/acme", "customers"),
        ("/docs/api/keys", "docs"),
        ("/careers", "careers"),
        ("/blog/2024/why", "blog"),
        ("/about", "other"),
        (None, ""),
    ],
)
def test_page_classes(path: str | None, expected: str) -> None:
    assert page_class(path) == expected


def test_examples_strip_ids_and_never_carry_values() -> None:
    evt = event(
        "page.viewed",
        T0,
        url="https://x.example/orders/12345/items/9f8e7d6c5b4a?email=jo@x.example",
        properties={"email": "jo@x.example", "plan": "pro"},
    )
    examples = examples_of(evt)
    assert examples == ["path /orders/:id/items/:id", "properties email, plan"]
    assert all("jo@" not in e for e in examples)
    assert strip_ids("/u/550e8400-e29b-41d4-a716-446655440000") == "/u/:id"


def test_tally_groups_by_key_counts_people_and_skips_system_events() -> None:
    events = [
        _track("Meeting Booked", person="a"),
        _track("Meeting Booked", person="a"),
        _track("Meeting Booked", person="b"),
        event("page.viewed", T0, url="/pricing", person="c"),
        event("system.decay_check", T0, person="c"),
    ]
    counted, tallies = tally_unscored(events, RULESET)
    assert counted == 4
    key = signal_key(events[0])
    assert (key.type, key.name, key.page) == ("meeting.booked", "Meeting Booked", "")
    assert list(tallies) == [key]
    assert tallies[key].events == 3
    assert tallies[key].people == {"a", "b"}
