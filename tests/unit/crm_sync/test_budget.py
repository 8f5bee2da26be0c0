"""The retry budget on a real database (SQLite, and PostgreSQL when configured): waiting leads, dead letters after
the budget, idempotent replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.consumer import RetryableError
from peerscore.crm_sync.adapters.fake import FakeCrmAdapter
from peerscore.crm_sync.budget import RetryBudget
from peerscore.crm_sync.dead_letters import CrmDeadLetter
from peerscore.crm_sync.handler import DeadLetterSink, SyncHandler, is_due
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import RetryState, SyncLedger
from peerscore.crm_sync.replay import replay
from tests.unit.crm_sync.factories import batch, transition
from tests.unit.crm_sync.recording import RecordingPublisher


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def setup(engine: Engine, budget: RetryBudget) -> tuple[FakeCrmAdapter, RecordingPublisher, SyncHandler, Clock]:
    fake = FakeCrmAdapter(retryable_failures={"p_a": "503 Service Unavailable"})
    dlq = RecordingPublisher()
    clock = Clock()
    sink = DeadLetterSink(dlq, "peerscore.crm.dlq.v1", budget)
    handler = SyncHandler(engine, lambda _s: fake, CrmMetrics(CollectorRegistry()), clock=clock, dead_letters=sink)
    return fake, dlq, handler, clock


def ledger(engine: Engine) -> dict[str, tuple[int, str, str | None]]:
    with Session(engine) as session:
        return {r.person_key: (r.last_version, r.status, r.error) for r in session.exec(select(SyncLedger))}


def test_after_max_attempts_the_lead_is_dead_lettered_and_the_partition_moves_on(crm_engine: Engine) -> None:
    fake, dlq, handler, _ = setup(crm_engine, RetryBudget(max_attempts=3, max_elapsed_s=3600))
    records = batch(transition("p_a", 4), transition("p_b", 1))
    for _ in range(2):
        with pytest.raises(RetryableError):
            handler.handle(records)
    assert dlq.records == []
    handler.handle(records)  # third failure spends the budget: no raise, the loop commits
    [letter] = [CrmDeadLetter.model_validate_json(r.value) for r in dlq.records]
    assert (dlq.records[0].key, letter.crm, letter.attempts) == ("p_a", "fake", 3)
    assert (letter.transition.score.version, letter.error) == (4, "503 Service Unavailable")
    assert ledger(crm_engine) == {"p_a": (4, "dlq", "503 Service Unavailable"), "p_b": (1, "ok", None)}
    with Session(crm_engine) as session:
        assert session.exec(select(RetryState)).all() == []
    handler.handle(records)  # redelivery of the same version in normal consumption: skipped
    assert len(dlq.records) == 1 and [len(c) for c in fake.calls] == [2, 1, 1]


def test_elapsed_time_also_spends_the_budget(crm_engine: Engine) -> None:
    _, dlq, handler, clock = setup(crm_engine, RetryBudget(max_attempts=100, max_elapsed_s=60))
    with pytest.raises(RetryableError):
        handler.handle(batch(transition("p_a", 1)))
    clock.now += timedelta(seconds=61)
    handler.handle(batch(transition("p_a", 1)))
    assert len(dlq.records) == 1


def test_a_newer_version_starts_a_fresh_budget(crm_engine: Engine) -> None:
    _, dlq, handler, _ = setup(crm_engine, RetryBudget(max_attempts=2, max_elapsed_s=3600))
    with pytest.raises(RetryableError):
        handler.handle(batch(transition("p_a", 1)))
    with pytest.raises(RetryableError):
        handler.handle(batch(transition("p_a", 2)))
    assert dlq.records == []


def test_replay_resends_a_dead_lettered_version_once(crm_engine: Engine) -> None:
    fake, dlq, handler, _ = setup(crm_engine, RetryBudget(max_attempts=1, max_elapsed_s=3600))
    handler.handle(batch(transition("p_a", 2)))
    letters = [CrmDeadLetter.model_validate_json(r.value) for r in dlq.records]
    fake.retryable_failures.clear()
    first = replay(handler, "fake", letters + letters, sleep=lambda s: None)
    second = replay(handler, "fake", letters, sleep=lambda s: None)
    assert (first.synced, second.synced, second.skipped) == (1, 0, 1)
    assert ledger(crm_engine)["p_a"] == (2, "ok", None)
    assert fake.contacts["p_a"]["peerscore_version"] == 2
    assert sum(1 for call in fake.calls for lead in call if lead.version == 2) == 2  # the failed try + the replay


def test_replay_skips_a_dead_letter_when_a_newer_version_was_synced_since() -> None:
    assert is_due(3, (3, "dlq"), replay=True)
    assert not is_due(3, (3, "dlq"), replay=False)
    assert not is_due(3, (4, "ok"), replay=True)
    assert not is_due(3, (3, "ok"), replay=True)
    assert is_due(4, (3, "failed"), replay=False)


def test_replay_gives_up_after_its_attempts_while_the_crm_still_fails(crm_engine: Engine) -> None:
    _, dlq, handler, _ = setup(crm_engine, RetryBudget(max_attempts=1, max_elapsed_s=3600))
    handler.handle(batch(transition("p_a", 2)))
    letters = [CrmDeadLetter.model_validate_json(r.value) for r in dlq.records]
    plain = SyncHandler(crm_engine, handler._adapter_factory, CrmMetrics(CollectorRegistry()))
    waits: list[float] = []
    with pytest.raises(RetryableError):
        replay(plain, "fake", letters, attempts=3, sleep=waits.append)
    assert waits == [1.0, 2.0]
    assert ledger(crm_engine)["p_a"][1] == "dlq"


def test_by_default_only_time_spends_the_budget_not_attempts(crm_engine: Engine) -> None:
    _, dlq, handler, clock = setup(crm_engine, RetryBudget())
    assert RetryBudget().max_attempts is None and RetryBudget().max_elapsed_s == 6 * 3600
    for _ in range(50):  # fifty failed attempts over five hours: still waiting, not dead-lettered
        with pytest.raises(RetryableError):
            handler.handle(batch(transition("p_a", 1)))
        clock.now += timedelta(minutes=6)
    assert dlq.records == []
    clock.now += timedelta(hours=1)
    handler.handle(batch(transition("p_a", 1)))
    assert len(dlq.records) == 1


def test_throttling_is_never_charged_to_the_budget(crm_engine: Engine) -> None:
    fake, dlq, handler, clock = setup(crm_engine, RetryBudget(max_attempts=2, max_elapsed_s=60))
    fake.throttled, fake.retry_after = True, 10.0
    for _ in range(5):
        with pytest.raises(RetryableError) as raised:
            handler.handle(batch(transition("p_a", 1)))
        assert raised.value.retry_after == 10.0  # Retry-After paces the sender
        clock.now += timedelta(seconds=30)
    assert dlq.records == []
    with Session(crm_engine) as session:
        assert session.exec(select(RetryState)).all() == []


def test_the_wait_between_attempts_grows_up_to_the_cap() -> None:
    budget = RetryBudget(backoff_initial_s=1.0, backoff_max_s=20.0)
    assert [budget.backoff_s(n) for n in range(7)] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0]
    assert budget.backoff_s(10_000) == 20.0
