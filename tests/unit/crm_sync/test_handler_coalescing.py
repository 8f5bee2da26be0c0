"""The sync handler keeps a handed-off lead's CRM record current: updates queued durably, coalesced per lead,
never behind the ledger. Real databases (SQLite, and PostgreSQL with TEST_DATABASE_URL), a movable clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.consumer import RetryableError
from peerscore.crm_sync.adapters.fake import FakeCrmAdapter
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.budget import RetryBudget
from peerscore.crm_sync.dead_letters import CrmDeadLetter
from peerscore.crm_sync.domain.freshness import UpdatePolicy
from peerscore.crm_sync.handler import DeadLetterSink, SyncHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import CrmLead, PendingSync, SyncLedger
from peerscore.crm_sync.privacy import erase
from peerscore.events import ErasureRequest
from peerscore.kafka_io import OutgoingRecord
from tests.unit.crm_sync.factories import batch, transition

START = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
POLICY = UpdatePolicy(coalesce_s=60, min_score_delta=10)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ListPublisher:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self.records.extend(records)

    def flush(self, timeout: float | None = None) -> None:
        return None


def fake_handler(
    engine: Engine, fake: FakeCrmAdapter, clock: Clock, policy: UpdatePolicy = POLICY, **kwargs: object
) -> SyncHandler:
    return SyncHandler(
        engine,
        lambda _s: fake,
        CrmMetrics(CollectorRegistry()),
        clock=clock,
        policy=policy,
        **kwargs,  # type: ignore[arg-type]
    )


def sent_versions(fake: FakeCrmAdapter, key: str = "p_a") -> list[int]:
    return [lead.version for call in fake.calls for lead in call if lead.person_key == key]


def pending(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {r.person_key: r.version for r in session.exec(select(PendingSync)).all()}


def test_an_update_reaches_the_local_crm_once_the_coalescing_delay_passed(crm_engine: Engine) -> None:
    clock = Clock()
    handler = SyncHandler(
        crm_engine,
        lambda session: LocalCrmAdapter(session, clock=clock),
        CrmMetrics(CollectorRegistry()),
        clock=clock,
        policy=POLICY,
    )
    handler.handle(batch(transition("p_a", 1)))  # the handoff: at once
    clock.advance(20)
    richer = transition(
        "p_a", 5, kind="updated", total=192.8, probability=0.73, model_version=4, groups={"product_x": 30.0}
    )
    handler.handle(batch(richer))
    with Session(crm_engine) as session:
        row = session.get(CrmLead, "p_a")
        assert row is not None and (row.version, row.score) == (1, 72.5)  # 20 s after the last send: waits
    clock.advance(40)
    handler.on_idle()  # what the consumer loop calls when a poll returns nothing
    with Session(crm_engine) as session:
        row = session.get(CrmLead, "p_a")
        assert row is not None
        assert (row.version, row.score, row.probability, row.model_version) == (5, 192.8, 0.73, 4)
        assert (row.status, row.groups, row.synced_at) == ("MQL", {"product_x": 30.0}, clock.now)
        assert row.qualified_at == transition("p_a", 1).transitioned_at  # the handoff's date is kept
        entry = session.get(SyncLedger, ("local", "p_a"))
        assert entry is not None and (entry.last_version, entry.last_kind, entry.sent_score) == (5, "updated", 192.8)
    assert pending(crm_engine) == {}


def test_a_burst_of_updates_costs_one_crm_call_per_coalescing_window(crm_engine: Engine) -> None:
    clock, fake = Clock(), FakeCrmAdapter()
    handler = fake_handler(crm_engine, fake, clock)
    handler.handle(batch(transition("p_a", 1)))
    for version in range(2, 62):  # one update a second for a minute, each moving the score by 10
        clock.advance(1)
        handler.handle(batch(transition("p_a", version, kind="updated", total=72.5 + 10 * version)))
    clock.advance(1)
    handler.on_idle()
    assert sent_versions(fake) == [1, 61]  # the handoff, then the newest version once the window passed
    assert fake.contacts["p_a"]["peerscore_score"] == 72.5 + 610
    assert pending(crm_engine) == {}


def test_updates_a_salesperson_would_not_notice_are_not_sent(crm_engine: Engine) -> None:
    clock, fake = Clock(), FakeCrmAdapter()
    handler = fake_handler(crm_engine, fake, clock)
    handler.handle(batch(transition("p_a", 1)))
    clock.advance(600)
    handler.handle(batch(transition("p_a", 2, kind="updated", total=75.0)))
    handler.on_idle()
    assert sent_versions(fake) == [1] and pending(crm_engine) == {}
    handler.handle(batch(transition("p_a", 3, kind="updated", total=75.0, grade="B")))  # a new grade is noticed
    assert sent_versions(fake) == [1, 3]  # the last send was long ago: due at once


def test_a_redelivered_older_batch_never_moves_the_crm_back(crm_engine: Engine) -> None:
    clock, fake = Clock(), FakeCrmAdapter()
    handler = fake_handler(crm_engine, fake, clock)
    handler.handle(batch(transition("p_a", 1)))
    clock.advance(120)
    newer, older = (transition("p_a", v, kind="updated", total=72.5 + 20 * v) for v in (4, 3))
    handler.handle(batch(newer))
    handler.handle(batch(older))  # a rewound partition re-delivers an older record
    clock.advance(120)
    handler.handle(batch(transition("p_a", 2, kind="updated", total=200.0), older))
    handler.on_idle()
    assert sent_versions(fake) == [1, 4]


def test_leads_never_handed_off_are_created_only_with_the_known_policy(crm_engine: Engine) -> None:
    clock, fake = Clock(), FakeCrmAdapter()
    fake_handler(crm_engine, fake, clock).handle(batch(transition("p_a", 3, kind="updated")))
    assert fake.calls == [] and pending(crm_engine) == {}
    known = fake_handler(crm_engine, fake, clock, UpdatePolicy(leads="known"))
    known.handle(batch(transition("p_b", 3, kind="updated", email="bo@example.com", total=10.0, grade="C")))
    assert sent_versions(fake, "p_b") == [3]
    assert fake.contacts["p_b"]["lead_status"] == "MQL"  # the factory's update is of a qualified lead


def test_a_crm_outage_keeps_the_update_pending_until_its_budget_is_spent(crm_engine: Engine) -> None:
    clock, fake, dlq = Clock(), FakeCrmAdapter(), ListPublisher()
    sink = DeadLetterSink(dlq, "crm.dlq", RetryBudget(max_attempts=2, max_elapsed_s=600))
    handler = fake_handler(crm_engine, fake, clock, dead_letters=sink)
    handler.handle(batch(transition("p_a", 1)))
    clock.advance(120)
    fake.retryable_failures["p_a"] = "429"
    with pytest.raises(RetryableError):
        handler.handle(batch(transition("p_a", 2, kind="updated", total=150.0)))
    assert pending(crm_engine) == {"p_a": 2}  # taken in for good: the offset may be committed
    handler.on_idle()  # second attempt: the budget is spent, the version is dead-lettered and the CRM moves on
    letters = [CrmDeadLetter.model_validate_json(r.value) for r in dlq.records]
    assert [(d.transition.kind, d.transition.score.version) for d in letters] == [("updated", 2)]
    assert pending(crm_engine) == {}
    with Session(crm_engine) as session:
        entry = session.get(SyncLedger, ("fake", "p_a"))
        assert entry is not None and (entry.last_version, entry.status) == (2, "dlq")
    del fake.retryable_failures["p_a"]
    outcome = handler.sync([letters[0].transition], replay=True)  # peerscore crm replay
    assert outcome.synced == 1 and fake.contacts["p_a"]["peerscore_version"] == 2


def test_an_erasure_forgets_the_pending_update(crm_engine: Engine) -> None:
    clock, fake = Clock(), FakeCrmAdapter()
    handler = fake_handler(crm_engine, fake, clock)
    handler.handle(batch(transition("p_a", 1)))
    handler.handle(batch(transition("p_a", 2, kind="updated", total=150.0)))
    assert pending(crm_engine) == {"p_a": 2}
    request = ErasureRequest(request_id="r1", person_key="p_a", requested_at=clock.now, erased_at=clock.now)
    with Session(crm_engine) as session, session.begin():
        assert erase(session, request)["crm_pending"] == 1
    clock.advance(120)
    handler.on_idle()
    assert sent_versions(fake) == [1]


def test_an_opt_out_withdraws_the_update_still_waiting_and_reaches_the_crm_at_once(crm_engine: Engine) -> None:
    clock, fake = Clock(), FakeCrmAdapter()
    handler = fake_handler(crm_engine, fake, clock)
    handler.handle(batch(transition("p_a", 1)))
    handler.handle(batch(transition("p_a", 2, kind="updated", total=150.0)))
    opted_out = transition("p_a", 3, kind="updated", total=0.0)
    opted_out = opted_out.model_copy(update={"score": opted_out.score.model_copy(update={"withheld": "opted_out"})})
    handler.handle(batch(opted_out))
    assert pending(crm_engine) == {}
    assert sent_versions(fake) == [1, 3]  # the opt-out at once, never the update queued before it
    assert (fake.contacts["p_a"]["lead_status"], fake.contacts["p_a"]["peerscore_score"]) == ("Opted out", 0.0)
    clock.advance(120)
    handler.on_idle()
    assert sent_versions(fake) == [1, 3]


def test_a_handoff_and_an_update_in_one_poll_reach_the_crm_at_once_as_the_handoff(crm_engine: Engine) -> None:
    clock, fake = Clock(), FakeCrmAdapter()
    handler = fake_handler(crm_engine, fake, clock)
    # What scoring publishes when a lead qualifies mid-batch: the handoff (v2), then the batch's newest score (v3).
    handler.handle(batch(transition("p_a", 2), transition("p_a", 3, kind="updated", total=120.0)))
    assert sent_versions(fake) == [3] and pending(crm_engine) == {}
    contact = fake.contacts["p_a"]
    assert (contact["lead_status"], contact["peerscore_score"]) == ("MQL", 120.0)
    assert contact["peerscore_qualified_at"] == transition("p_a", 2).transitioned_at.isoformat().replace("+00:00", "Z")
