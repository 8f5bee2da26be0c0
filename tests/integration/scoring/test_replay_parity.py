"""Live scoring = a backtest replay under the live ruleset = what a training row sees, with merges and consent.

The real scoring handler on both databases, with the in-memory events log of ``test_identity_chains`` standing in
for the broker (merge instructions, transfers and forwarded events go round until the log is quiet). Buyers come in
the way real systems send them: Segment calls through the ingest normaliser (anonymous ids, then ``identify`` with
the user id and the email in traits; consent in ``context.consent``), LinkedIn lead forms through the LinkedIn
mapper (keyed by the answer's email, retried with the same response), and a CRM outcome named by email.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from peerscore.consumer import Message
from peerscore.db import create_tables
from peerscore.events import EngagementEvent, PersonIdentifiers, utcnow
from peerscore.identity import identifier_keys
from peerscore.ingest.linkedin.answers import LeadData
from peerscore.ingest.linkedin.leads import LeadNotification, lead_event
from peerscore.ingest.normalise import normalise_batch
from peerscore.scoring.backtest import Period, fold_history
from peerscore.scoring.backtest.source import key_ranges, range_histories
from peerscore.scoring.domain import PersonState, load_default_ruleset
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.identity.batch import PrivacyConfig
from peerscore.scoring.identity.erasure import ErasureOrder, erasure_event
from peerscore.scoring.identity.models import IdentityLinkRow
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES, PersonRow
from peerscore.scoring.predictive.dataset import DatasetConfig, build_training_set
from peerscore.scoring.predictive.features import feature_vector, spec_for
from peerscore.scoring.predictive.sources import stored_histories
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.test_identity_chains import PARTITIONS, Log

pytestmark = pytest.mark.integration

SECRET = b"parity-secret"
T0 = (utcnow() - timedelta(days=20)).replace(hour=0, minute=0, second=0, microsecond=0)
RULESET = load_default_ruleset()
DAYS = 7


def at(day: int, minutes: int = 0) -> datetime:
    return T0 + timedelta(days=day, hours=9, minutes=minutes)


def key_of(**ids: str) -> str:
    return identifier_keys(PersonIdentifiers(**ids), SECRET)[0][1]


def segment(kind: str, message_id: str, day: int, minutes: int = 0, **fields: Any) -> EngagementEvent:
    """One Segment call through the ingest normaliser (``consent``: the category preferences in its context)."""
    call: dict[str, Any] = {"type": kind, "messageId": message_id, "timestamp": at(day, minutes).isoformat()}
    consent = fields.pop("consent", None)
    if consent is not None:
        call["context"] = {"consent": {"categoryPreferences": consent}}
    call.update(fields)
    return normalise_batch({"batch": [call]}, secret=SECRET, received_at=utcnow())[0]


def page(message_id: str, day: int, path: str, minutes: int = 0, **ids: Any) -> EngagementEvent:
    return segment("page", message_id, day, minutes, properties={"path": path}, **ids)


def identify(message_id: str, day: int, user: str, email: str, title: str, domain: str, **ids: Any) -> EngagementEvent:
    traits = {"email": email, "title": title, "company": {"name": domain, "domain": domain, "employee_count": 800}}
    return segment("identify", message_id, day, userId=user, traits=traits, **ids)


def linkedin_form(response: str, day: int, email: str, member: str) -> EngagementEvent:
    """A LinkedIn Lead Gen form submission as the LinkedIn mapper turns it into an event."""
    notification = LeadNotification(
        response_urn=f"urn:li:leadFormResponse:{response}", action="CREATED", lead_type="SPONSORED", occurred_at=at(day)
    )
    data = LeadData(
        submitter=member,
        submitted_at=at(day),
        attributes={"email": email, "title": "Director of Marketing", "company": "Beta", "company_size": "201-500"},
    )
    return lead_event(notification, data, secret=SECRET, received_at=utcnow())


def script() -> list[list[EngagementEvent]]:
    """Per day, what the buyers do (A: anonymous → known; B: LinkedIn form → website login; C: two user ids on
    one email; D: opts out, then back in; E: opts out while anonymous, then identifies; F: identifies, then asks
    to be erased by the anonymous id it started with)."""
    no = {"marketing": False}
    return [
        [
            page("a1", 0, "/pricing", anonymousId="anon-a"),
            page("a2", 0, "/demo", 5, anonymousId="anon-a"),
            linkedin_form("b1", 0, "b@beta.example", "urn:li:person:b"),
            identify("c1", 0, "u-c1", "c@gamma.example", "VP Sales", "gamma.example"),
            identify("d1", 0, "u-d", "d@delta.example", "VP of Marketing", "delta.example"),
            page("e1", 0, "/pricing", anonymousId="anon-e", consent=no),
            page("f1", 0, "/pricing", anonymousId="anon-f"),
        ],
        [
            segment("track", "a3", 1, event="Demo Requested", anonymousId="anon-a"),
            linkedin_form("b1", 1, "b@beta.example", "urn:li:person:b"),  # LinkedIn retries the same response
            page("c2", 1, "/pricing", userId="u-c1"),
            segment("track", "d2", 1, event="Demo Requested", userId="u-d"),
            page("d3", 1, "/pricing", 5, userId="u-d"),
            identify("e2", 1, "u-e", "e@eps.example", "CMO", "eps.example", anonymousId="anon-e"),
            identify("f2", 1, "u-f", "f@phi.example", "CEO", "phi.example", anonymousId="anon-f"),
        ],
        [
            identify("a4", 2, "u-a", "a@acme.example", "VP of Marketing", "acme.example", anonymousId="anon-a"),
            identify("b2", 2, "u-b", "b@beta.example", "Director of Marketing", "beta.example"),
            page("b3", 2, "/pricing", 5, userId="u-b"),
            identify("c3", 2, "u-c2", "c@gamma.example", "VP Sales", "gamma.example"),
            page("d4", 2, "/blog", userId="u-d", consent=no),
        ],
        [
            page("a5", 3, "/pricing", userId="u-a"),
            page("a6", 3, "/compare", 5, anonymousId="anon-a"),  # after the merge: forwarded to the user id
            page("d5", 3, "/pricing", userId="u-d"),  # opted out: withheld
            page("e3", 3, "/pricing", userId="u-e"),  # opted out through the merge: withheld
            page("c4", 3, "/compare", userId="u-c2"),
            segment("track", "a8", 3, 30, event="Sandbox Created", userId="u-a"),  # no rule names it
            erasure_event(key_of(anonymous_id="anon-f"), ErasureOrder(request_id="gdpr-f", requested_at=at(3, 9))),
        ],
        [page("d6", 4, "/pricing", userId="u-d", consent={"marketing": True})],
        [page("a7", 5, "/demo", userId="u-a"), segment("track", "b4", 5, event="Demo Requested", userId="u-b")],
    ]


class LiveWorker:
    """The scoring handler fed through the in-memory events log, partition by partition, until it is quiet."""

    def __init__(self, engine: Engine) -> None:
        create_tables(engine, SCORING_TABLES)
        self.topics = Topics(prefix=unique("parity"), event_partitions=PARTITIONS)
        self.log = Log(self.topics.events)
        self.handler = ScoringHandler(
            engine=engine,
            ruleset=lambda: RULESET,
            topics=self.topics,
            publisher=self.log,
            group_id="parity",
            metrics=ScoringMetrics(CollectorRegistry()),
            privacy=PrivacyConfig(secret=SECRET),
        )

    def feed(self, events: Sequence[EngagementEvent]) -> None:
        for event in events:
            self.log.append(event.person_key, event.model_dump_json().encode())
        for _ in range(50):
            progressed = False
            for partition in range(PARTITIONS):
                batch = [
                    Message(self.topics.events, partition, offset, key, self.handler.decode(None, value), 0)
                    for offset, key, value in self.log.pending(partition)
                ]
                if batch:
                    self.log.read[partition] += len(batch)
                    self.handler.handle(batch)
                    progressed = True
            if not progressed:
                return
        raise AssertionError("the events log never went quiet")


def live_people(engine: Engine) -> dict[str, PersonRow]:
    with Session(engine) as session:
        return {r.person_key: r for r in session.exec(select(PersonRow)).all()}


def run_live(engine: Engine) -> dict[datetime, dict[str, PersonState]]:
    """Play the script; the live states as they stood at every daily cutoff (midnight after each day)."""
    worker = LiveWorker(engine)
    states: dict[datetime, dict[str, PersonState]] = {}
    for day, events in enumerate(script()):
        worker.feed(events)
        states[T0 + timedelta(days=day + 1)] = {
            k: PersonState.model_validate(r.state) for k, r in live_people(engine).items()
        }
    for day in range(len(script()), DAYS + 4):
        states[T0 + timedelta(days=day + 1)] = states[T0 + timedelta(days=len(script()))]
    return states


def test_backtest_with_the_live_ruleset_reproduces_live_merges_and_consent(engine: Engine) -> None:
    run_live(engine)
    stored = {k: (r.qualified, r.total, r.version) for k, r in live_people(engine).items()}
    c_user = max(key_of(user_id="u-c1"), key_of(user_id="u-c2"))
    people = {key_of(user_id=u) for u in ("u-a", "u-b", "u-d", "u-e")} | {c_user}
    assert set(stored) == people, "every buyer is one person live; the erased one is gone"
    assert stored[key_of(user_id="u-e")][:2] == (False, 0.0), "opted out through the merge: withheld"
    assert any(q for q, _, _ in stored.values())

    for workers in (1, 2):
        folded = fold_history(engine, Period(), RULESET, RULESET, workers=workers)
        replayed = {p.person_key: (p.before.qualified, p.before.total, p.events) for p in folded.people}
        assert replayed == stored
        assert {p.person_key: (p.after.qualified, p.after.total) for p in folded.people} == {
            k: (q, t) for k, (q, t, _) in stored.items()
        }


def test_key_ranges_never_split_a_merged_person(engine: Engine) -> None:
    run_live(engine)
    with Session(engine) as session:
        rows = session.exec(select(func.count()).select_from(EventHistoryRow)).one()
        keys = set(session.exec(select(EventHistoryRow.person_key)).all())
    ranges = key_ranges(engine, Period(), parts=50, max_events=1)
    people = [h for r in ranges for h in range_histories(engine, Period(), r)]
    assert len(ranges) == len(people) == len(live_people(engine)), "one range per person at most one event each"
    assert sum(h.events for h in people) == rows, "every history row read once, with its canonical person"
    assert {k for h in people for k in h.streams if h.stream(k)} == keys
    assert len(keys) > len(people), "merged keys kept their own streams"


def test_training_rows_see_the_live_state_at_their_snapshot(engine: Engine) -> None:
    live = run_live(engine)
    with Session(engine) as session:
        links = {r.person_key: r.merged_into for r in session.exec(select(IdentityLinkRow)).all()}
    b_email = key_of(email="b@beta.example")
    assert links.get(b_email) == key_of(user_id="u-b")
    # The CRM reports B's deal by email, after the events were scored: it belongs to B's canonical person.
    outcomes = [(links[b_email], "opportunity_created", at(6)), (key_of(user_id="u-a"), "won", at(5, 30))]
    config = DatasetConfig(horizon_days=3, snapshot_every_days=1, active_days=30)
    end = T0 + timedelta(days=DAYS + 3)
    data = build_training_set(stored_histories(engine, Period()), outcomes, RULESET, start=T0, end=end, config=config)

    assert "type.sandbox.created.count" in data.spec.names, "a type no rule names gets its own columns"
    spec = spec_for(RULESET, data.spec.names)  # what the online predictor builds from the model's names
    problems: list[str] = []
    for i, key in enumerate(data.person_keys):
        as_of = datetime.fromtimestamp(float(data.as_of[i]), T0.tzinfo)
        matches = [s[key] for s in live.values() if key in s and s[key].last_event_at == as_of]
        if not matches or matches[0].opted_out:
            problems.append(f"row {i}: no live state of that person was scored at {as_of}")
        elif not np.array_equal(data.features[i], feature_vector(matches[0], {}, RULESET, spec, as_of), equal_nan=True):
            problems.append(f"row {i}: features differ from the live state at {as_of}")
    assert problems == []
    a_key = key_of(user_id="u-a")
    column = data.spec.index()["type.sandbox.created.count"]
    assert max(data.features[i, column] for i, k in enumerate(data.person_keys) if k == a_key) == 1
    assert {a_key, key_of(user_id="u-b")} <= set(data.person_keys)
    assert set(data.person_keys) <= set(live[end])
    a_rows = [i for i, k in enumerate(data.person_keys) if k == a_key]
    assert int(data.labels[a_rows].max()) == 1, "A's late outcome labels the row before it"
