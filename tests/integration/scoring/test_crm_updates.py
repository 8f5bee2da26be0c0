"""Scoring publishes ``updated`` transitions so a handed-off lead's CRM record follows its score: the real
handler on both databases, Kafka a list (what is published, in order, is what is checked)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from peerscore.consumer import Message
from peerscore.db import create_tables
from peerscore.events import EngagementEvent, LeadTransition
from peerscore.kafka_io import OutgoingRecord
from peerscore.scoring.handler import CrmLeads, ScoringHandler
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES
from peerscore.topics import Topics
from tests.unit.scoring.builders import T0, days, event, small_ruleset

TOPICS = Topics(prefix="crm-updates")


class ListPublisher:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self.records.extend(records)

    def flush(self, timeout: float | None = None) -> None:
        return None


class Scoring:
    def __init__(self, engine: Engine, crm_leads: CrmLeads = "mql") -> None:
        create_tables(engine, SCORING_TABLES)
        rules = small_ruleset()
        self.publisher = ListPublisher()
        self.handler = ScoringHandler(
            engine=engine,
            ruleset=lambda: rules,
            topics=TOPICS,
            publisher=self.publisher,
            group_id="crm-updates",
            metrics=ScoringMetrics(CollectorRegistry()),
            crm_leads=crm_leads,
        )
        self.offset = 0

    def batch(self, *events: EngagementEvent) -> list[LeadTransition]:
        """Handle one polled batch; returns what it published on the qualified topic."""
        messages = []
        for e in events:
            messages.append(Message(TOPICS.events, 0, self.offset, e.person_key, e, 0))
            self.offset += 1
        self.handler.handle(messages)
        out = [
            LeadTransition.model_validate_json(r.value) for r in self.publisher.records if r.topic == TOPICS.qualified
        ]
        self.publisher.records.clear()
        return out


def vp(person: str, at_day: float = 0, email: str | None = "ada@acme.com") -> EngagementEvent:
    return event("identify", T0 + days(at_day), person=person, email=email, traits={"seniority": "vp"})


def kinds(published: list[LeadTransition]) -> list[tuple[str, str, int]]:
    return [(t.kind, t.person_key, t.score.version) for t in published]


@pytest.mark.parametrize("policy", ["mql", "known"])
def test_a_handed_off_lead_publishes_an_update_for_each_batch_that_changes_its_score(
    engine: Engine, policy: CrmLeads
) -> None:
    scoring = Scoring(engine, policy)
    # Qualifies on the demo (v2); the webinar later in the same batch changes the score again (v3): the handoff
    # carries v2 and an update carries the batch's newest score, so the CRM does not stay at the handoff.
    first = scoring.batch(
        vp("p1"), event("demo.requested", T0, person="p1"), event("webinar.attended", T0, person="p1")
    )
    assert kinds(first) == [("qualified", "p1", 2), ("updated", "p1", 3)]
    update = first[1]
    assert update.score.qualified and update.contact.email == "ada@acme.com"
    assert update.score.groups["product_x"] == 10 and update.score.total > first[0].score.total

    later = scoring.batch(event("webinar.attended", T0 + days(1), person="p1"))
    assert kinds(later) == [("updated", "p1", 4)]
    assert later[0].transitioned_at == later[0].score.as_of == T0 + days(1)


def test_only_qualified_leads_are_followed_by_default(engine: Engine) -> None:
    scoring = Scoring(engine)
    # Known (email), scored, but never qualified: not in the CRM under the default policy.
    assert scoring.batch(vp("p2", email="bo@acme.com"), event("webinar.attended", T0, person="p2")) == []


def test_every_known_lead_with_an_email_is_followed_with_the_known_policy(engine: Engine) -> None:
    scoring = Scoring(engine, "known")
    published = scoring.batch(vp("p2", email="bo@acme.com"), vp("p3", email=None))
    assert kinds(published) == [("updated", "p2", 1)]  # p3 has no email: a CRM could not find it
    assert not published[0].score.qualified


def test_a_batch_that_leaves_the_score_unchanged_publishes_no_update(engine: Engine) -> None:
    scoring = Scoring(engine)
    scoring.batch(vp("p1"), event("demo.requested", T0, person="p1"))
    # The same identify again: applied (a new version) but nothing about the score changed.
    assert scoring.batch(vp("p1")) == []


def test_a_qualified_lead_without_an_email_publishes_no_updates(engine: Engine) -> None:
    scoring = Scoring(engine)
    handoff = scoring.batch(vp("p4", email=None), event("demo.requested", T0, person="p4"))
    assert [t.kind for t in handoff] == ["qualified"]  # crm-sync records "missing email" once
    assert scoring.batch(event("webinar.attended", T0 + days(1), person="p4")) == []
