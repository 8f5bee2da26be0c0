"""The explorer's reads: search by email, domain and account, and a timeline that jumps at events and decays."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from sqlmodel import Session

from peerscore.db import create_tables, make_engine
from peerscore.events import EngagementEvent
from peerscore.scoring import store
from peerscore.scoring.console.leads import account_keys, replay_timeline, search
from peerscore.scoring.domain import PersonState, apply_event, load_default_ruleset, new_person
from peerscore.scoring.models import SCORING_TABLES
from tests.integration.scoring.support import END, journey_events


def by_person(events: list[EngagementEvent]) -> dict[str, list[EngagementEvent]]:
    people: dict[str, list[EngagementEvent]] = defaultdict(list)
    for event in events:
        people[event.person_key].append(event)
    return people


def test_the_timeline_jumps_at_events_and_decays_in_between() -> None:
    ruleset = load_default_ruleset()
    key, events = max(by_person(journey_events(people=12, seed=3)).items(), key=lambda kv: len(kv[1]))
    points, marks = replay_timeline(key, events, ruleset, until=END, samples=40)
    assert points[0][0] == min(e.occurred_at for e in events)
    assert points[-1][0] == END
    assert [t for t, _ in points] == sorted(t for t, _ in points)
    last_event = max(e.occurred_at for e in events)
    tail = [v for t, v in points if t > last_event]
    assert tail == sorted(tail, reverse=True) and tail[-1] < tail[0], "no events after the last: it only decays"
    assert all(label in ("qualified", "recycled") for _, label in marks)


def test_search_by_email_domain_and_account(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'leads.db'}")
    create_tables(engine, SCORING_TABLES)
    ruleset = load_default_ruleset()
    people = []
    for key, events in by_person(journey_events(people=15, seed=9)).items():
        person: PersonState = new_person(key)
        score = None
        for event in events:
            applied = apply_event(person, None, event, ruleset)
            person, score = applied.person, applied.score or score
        people.append((person, score))
    with Session(engine) as session, session.begin():
        store.save_people(session, people, END)
    some = next(p for p, _ in people if p.email and p.account_key)
    assert some.email is not None and some.account_key is not None
    local = some.email.split("@")[0]
    assert [lead.person_key for lead in search(engine, local.upper(), "email")] == [some.person_key]
    by_domain = search(engine, "@" + some.account_key, "domain")
    assert some.person_key in {lead.person_key for lead in by_domain}
    assert all(lead.account_key == some.account_key for lead in by_domain)
    assert search(engine, "%", "email") == [], "LIKE wildcards are searched for literally"
    accounts = account_keys(engine, some.account_key[:6])
    assert some.account_key in {key for key, _, _ in accounts}
    engine.dispose()
