"""The working fold (mutable state per batch) against the immutable path it replaced: equal to the bit.

Random event sequences over the names the rulesets score (aliases, late events, duplicate ids, fit changes,
account hints, several people sharing accounts) are folded twice: event by event through
``apply_event_immutable`` (new frozen states per event), and batch by batch through ``WorkingPerson`` (each
person loaded once per batch, folded in place, serialised at the end of the batch). States (as stored JSON),
ledger rows, scorecards and transitions must be identical; so must ``apply_event`` (the one-event wrapper).
The states include the signal profile (every activity type, sessions, page classes, channels, day buckets
pruned over a span longer than their window), which the model's raw-signal features read.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peerscore.events import EngagementEvent
from peerscore.scoring.domain import AccountState, PersonState, Ruleset, account_key_for, apply_event, new_person
from peerscore.scoring.domain.activity import is_signal
from peerscore.scoring.domain.engine import apply_event_immutable
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.domain.working import WorkingPerson, merge_event

from .builders import T0, event, small_ruleset

RULESETS = {"default": load_default_ruleset(), "small": small_ruleset()}

TYPES = [
    "page.viewed",
    "demo.requested",
    "requested_a.demo",
    "book_a.demo",
    "trial.started",
    "start.trial",
    "signed.up",
    "form.submitted",
    "webinar.attended",
    "email.opened",
    "email.unsubscribed",
    "review_site.visited",
    "linkedin.post.engaged",
    "feature.used",
    "trial.activated",
    "track",
    "identify",
    "unknown.thing",
    "integration.connected",  # no ruleset here names it: only the signal profile sees it
    "linkedin.lead_form.submitted",
]
REFERRERS = [None, "https://www.google.com/", "https://www.g2.com/x", "https://lnkd.in/a", "https://blog.example/"]
UTM = [None, {"utm_source": "linkedin", "utm_medium": "cpc"}, {"utm_medium": "email"}, {"campaign": "urn:li:c:1"}]
URLS = [None, "https://x.io/pricing", "https://x.io/careers", "https://x.io/blog/a", "https://x.io/demo", "/vs-acme"]
NAMES = [None, None, "demo requested", "pricing viewed", "webinar attended", "Something Else"]
TITLES = [None, "VP Marketing", "CEO", "Student", "Sales Manager", "Director of Growth"]
EMAILS = [None, None, "ann@acme.com", "ann@gmail.com", "bob@globex.io"]
DOMAINS = [None, None, "acme.com", "globex.io", "competitor.example", "WWW.Acme.com"]


@st.composite
def events(draw: st.DrawFn) -> EngagementEvent:
    account: dict[str, Any] = {}
    if draw(st.booleans()):
        account["employees"] = draw(st.sampled_from([10, 50, 500, 10_000]))
    if draw(st.booleans()):
        account["industry"] = draw(st.sampled_from(["software", "retail"]))
    traits: dict[str, Any] = {}
    title = draw(st.sampled_from(TITLES))
    if title is not None:
        traits["title"] = title
    if draw(st.booleans()):
        traits["seniority"] = draw(st.sampled_from(["vp", "manager", "director"]))
    properties: dict[str, Any] = {}
    if draw(st.booleans()):
        properties["page_type"] = draw(st.sampled_from(["pricing", "comparison", "home"]))
    if draw(st.booleans()):
        properties["action"] = draw(st.sampled_from(["comment", "like"]))
    referrer = draw(st.sampled_from(REFERRERS))
    if referrer is not None:
        properties["referrer"] = referrer
    properties.update(draw(st.sampled_from(UTM)) or {})
    minutes = draw(st.integers(min_value=-40 * 24 * 60, max_value=200 * 24 * 60))
    return event(
        draw(st.sampled_from(TYPES)),
        T0 + timedelta(minutes=minutes, microseconds=draw(st.integers(0, 999_999))),
        person=draw(st.sampled_from(["p1", "p2", "p3"])),
        event_id=f"e{draw(st.integers(0, 40))}",
        url=draw(st.sampled_from(URLS)),
        email=draw(st.sampled_from(EMAILS)),
        domain=draw(st.sampled_from(DOMAINS)),
        traits=traits,
        account=account,
        properties=properties,
        name=draw(st.sampled_from(NAMES)),
    )


def _immutable(ruleset: Ruleset, stream: list[EngagementEvent]) -> tuple[dict[str, Any], list[Any]]:
    people: dict[str, PersonState] = {}
    accounts: dict[str, AccountState] = {}
    steps: list[Any] = []
    for evt in stream:
        person = people.get(evt.person_key) or new_person(evt.person_key)
        key = account_key_for(person, evt)
        applied = apply_event_immutable(person, accounts.get(key) if key else None, evt, ruleset)
        wrapped = apply_event(person, accounts.get(key) if key else None, evt, ruleset)
        assert wrapped.dump() == applied.dump()
        people[evt.person_key] = applied.person
        if applied.account is not None:
            accounts[applied.account.account_key] = applied.account
        awards = [a.model_dump(mode="json") for a in applied.awards]
        steps.append((applied.duplicate, awards, applied.transition, applied.card))
    return _dump(people, accounts), steps


def _working(ruleset: Ruleset, batches: list[list[EngagementEvent]]) -> tuple[dict[str, Any], list[Any]]:
    people: dict[str, PersonState] = {}
    accounts: dict[str, AccountState] = {}
    steps: list[Any] = []
    for batch in batches:
        working: dict[str, WorkingPerson] = {}
        for evt in batch:
            person = working.get(evt.person_key)
            if person is None:
                stored = people.get(evt.person_key) or new_person(evt.person_key)
                person = working[evt.person_key] = WorkingPerson(stored)
            if person.is_duplicate(evt):
                steps.append((True, [], None, None))
                continue
            key = person.account_key_for(evt)
            account = merge_event(accounts.get(key) if key else None, key, evt.person_key, evt)
            if account is not None:
                accounts[account.account_key] = account
            folded = person.fold(evt, ruleset)
            awards = [{**row._asdict(), "occurred_at": row.occurred_at.isoformat()} for row in folded.awards]
            steps.append((False, awards, folded.transition, folded.card))
        people.update((key, person.state()) for key, person in working.items())
    return _dump(people, accounts), steps


def _dump(people: dict[str, PersonState], accounts: dict[str, AccountState]) -> dict[str, Any]:
    return {
        "people": {k: p.model_dump(mode="json") for k, p in sorted(people.items())},
        "people_json": {k: p.model_dump_json() for k, p in sorted(people.items())},
        "accounts": {k: a.model_dump(mode="json") for k, a in sorted(accounts.items())},
    }


def _normalise(steps: list[Any]) -> list[Any]:
    """Award datetimes as JSON text on both sides (pydantic's and ``isoformat`` agree on UTC times only)."""
    out = []
    for duplicate, awards, transition, card in steps:
        rows = [{**a, "occurred_at": str(a["occurred_at"]).replace("+00:00", "Z")} for a in awards]
        out.append((duplicate, rows, transition, card))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(RULESETS)),
    stream=st.lists(events(), min_size=1, max_size=40),
    cuts=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=10),
)
def test_working_fold_equals_the_immutable_path(name: str, stream: list[EngagementEvent], cuts: list[int]) -> None:
    ruleset = RULESETS[name]
    batches, start, i = [], 0, 0
    while start < len(stream):
        size = cuts[i % len(cuts)]
        batches.append(stream[start : start + size])
        start, i = start + size, i + 1
    expected_state, expected_steps = _immutable(ruleset, stream)
    state, steps = _working(ruleset, batches)
    assert state == expected_state
    assert _normalise(steps) == _normalise(expected_steps)
    for key, person in expected_state["people"].items():  # the profile is part of the compared states
        counted = sum(c["n"] for c in person["signals"]["types"].values())
        activity = {e.event_id for e in stream if e.person_key == key and is_signal(e.type)}
        assert counted <= len(activity)


def test_a_stored_state_round_trips_through_the_working_person() -> None:
    ruleset = RULESETS["default"]
    person = new_person("p1")
    for n, kind in enumerate(["page.viewed", "demo.requested", "signed.up", "page.viewed"]):
        evt = event(kind, T0 + timedelta(hours=n), url="https://x.io/pricing", email="ann@acme.com", domain="acme.com")
        person = apply_event_immutable(person, None, evt, ruleset, merge_account=False).person
    stored = PersonState.model_validate_json(person.model_dump_json())
    assert WorkingPerson(stored).state().model_dump_json() == person.model_dump_json()
