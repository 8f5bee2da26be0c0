"""The sync handler on a real SQLite database: versions applied once, failures recorded, errors sorted."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, create_engine
from sqlmodel import Session, select

from peerscore.consumer import InvalidMessage, RetryableError
from peerscore.crm_sync.adapters.base import CrmAdapter
from peerscore.crm_sync.adapters.fake import FakeCrmAdapter
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.handler import SyncHandler, newest_per_person
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import CrmLead, SyncLedger
from tests.unit.crm_sync.factories import batch, transition

NOW = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)


def local_handler(engine: Engine, registry: CollectorRegistry | None = None) -> SyncHandler:
    return SyncHandler(
        engine,
        lambda session: LocalCrmAdapter(session, clock=lambda: NOW),
        CrmMetrics(registry or CollectorRegistry()),
        clock=lambda: NOW,
    )


def handler_for(engine: Engine, adapter: CrmAdapter) -> SyncHandler:
    return SyncHandler(engine, lambda _session: adapter, CrmMetrics(CollectorRegistry()), clock=lambda: NOW)


def crm_rows(engine: Engine) -> dict[str, CrmLead]:
    with Session(engine) as session:
        return {row.person_key: row for row in session.exec(select(CrmLead)).all()}


def ledger(engine: Engine) -> dict[str, SyncLedger]:
    with Session(engine) as session:
        return {row.person_key: row for row in session.exec(select(SyncLedger)).all()}


def test_new_lead_is_written_to_the_crm_and_the_ledger(crm_engine: Engine) -> None:
    local_handler(crm_engine).handle(batch(transition("p_a", 1)))
    row = crm_rows(crm_engine)["p_a"]
    assert (row.email, row.status, row.version, row.synced_at) == ("ada@example.com", "MQL", 1, NOW)
    assert row.reasons == ["Visited pricing 3 times", "VP at a 500-person SaaS company"]
    entry = ledger(crm_engine)["p_a"]
    assert (entry.crm, entry.last_version, entry.last_kind, entry.status, entry.error) == (
        "local",
        1,
        "qualified",
        "ok",
        None,
    )
    assert entry.updated_at == NOW


def test_newer_version_replaces_the_lead(crm_engine: Engine) -> None:
    handler = local_handler(crm_engine)
    handler.handle(batch(transition("p_a", 1)))
    handler.handle(batch(transition("p_a", 2, kind="recycled", reasons=("Went quiet",))))
    row = crm_rows(crm_engine)["p_a"]
    assert (row.version, row.status, row.reasons) == (2, "Recycled", ["Went quiet"])
    assert (ledger(crm_engine)["p_a"].last_version, ledger(crm_engine)["p_a"].last_kind) == (
        2,
        "recycled",
    )


@pytest.mark.parametrize("redelivered", [2, 1], ids=["same-version", "older-version"])
def test_same_or_older_version_is_skipped(crm_engine: Engine, redelivered: int) -> None:
    registry = CollectorRegistry()
    handler = local_handler(crm_engine, registry)
    handler.handle(batch(transition("p_a", 2, total=80.0)))
    handler.handle(batch(transition("p_a", redelivered, total=10.0, email="stale@example.com")))
    row = crm_rows(crm_engine)["p_a"]
    assert (row.version, row.score, row.email) == (2, 80.0, "ada@example.com")
    assert registry.get_sample_value("peerscore_crm_skipped_duplicates_total", {"crm": "local"}) == 1
    assert registry.get_sample_value("peerscore_crm_upserts_total", {"crm": "local", "result": "ok"}) == 1


def test_a_batch_with_several_versions_of_one_lead_keeps_the_newest(crm_engine: Engine) -> None:
    registry = CollectorRegistry()
    local_handler(crm_engine, registry).handle(
        batch(transition("p_a", 1), transition("p_a", 3, total=90.0), transition("p_b", 1), transition("p_a", 2))
    )
    rows = crm_rows(crm_engine)
    assert (rows["p_a"].version, rows["p_a"].score) == (3, 90.0)
    assert rows["p_b"].version == 1
    assert ledger(crm_engine)["p_a"].last_version == 3
    assert registry.get_sample_value("peerscore_crm_skipped_duplicates_total", {"crm": "local"}) == 2


def test_newest_per_person_keeps_first_appearance_order() -> None:
    kept = newest_per_person([transition("p_b", 1), transition("p_a", 1), transition("p_b", 5)])
    assert [(t.person_key, t.score.version) for t in kept] == [("p_b", 5), ("p_a", 1)]


def test_missing_email_is_recorded_as_failed_without_blocking_others(crm_engine: Engine) -> None:
    registry = CollectorRegistry()
    local_handler(crm_engine, registry).handle(
        batch(transition("p_anon", 1, email=None), transition("p_b", 1, email="bob@example.com"))
    )
    assert set(crm_rows(crm_engine)) == {"p_b"}
    entries = ledger(crm_engine)
    assert (entries["p_anon"].status, entries["p_anon"].error, entries["p_anon"].last_version) == (
        "failed",
        "missing email",
        1,
    )
    assert entries["p_b"].status == "ok"
    assert registry.get_sample_value("peerscore_crm_upserts_total", {"crm": "local", "result": "failed"}) == 1


def test_failed_version_is_not_retried_but_a_newer_one_with_email_syncs(crm_engine: Engine) -> None:
    handler = local_handler(crm_engine)
    handler.handle(batch(transition("p_a", 1, email=None)))
    handler.handle(batch(transition("p_a", 1, email=None)))  # redelivery: already recorded, skipped
    handler.handle(batch(transition("p_a", 2)))
    assert crm_rows(crm_engine)["p_a"].version == 2
    assert (ledger(crm_engine)["p_a"].status, ledger(crm_engine)["p_a"].error) == ("ok", None)


def test_crm_rejection_is_recorded_with_its_message(crm_engine: Engine) -> None:
    fake = FakeCrmAdapter(permanent_failures={"p_a": "INVALID_EMAIL: not deliverable"})
    handler_for(crm_engine, fake).handle(batch(transition("p_a", 4), transition("p_b", 1)))
    entries = ledger(crm_engine)
    assert (entries["p_a"].crm, entries["p_a"].status, entries["p_a"].error) == (
        "fake",
        "failed",
        "INVALID_EMAIL: not deliverable",
    )
    assert entries["p_b"].status == "ok"
    assert set(fake.contacts) == {"p_b"}


def test_retryable_crm_answer_keeps_the_lead_waiting_and_records_the_others(crm_engine: Engine) -> None:
    fake = FakeCrmAdapter(retryable_failures={"p_a": "429 Too Many Requests"}, retry_after=10.0)
    handler = handler_for(crm_engine, fake)
    with pytest.raises(RetryableError) as info:
        handler.handle(batch(transition("p_a", 1), transition("p_b", 1)))
    assert info.value.retry_after == 10.0
    assert "429" in str(info.value)
    assert {k: e.status for k, e in ledger(crm_engine).items()} == {"p_b": "ok"}  # p_a is not marked synced
    fake.retryable_failures.clear()
    handler.handle(batch(transition("p_a", 1), transition("p_b", 1)))  # the loop re-reads the same batch
    assert {k: e.status for k, e in ledger(crm_engine).items()} == {"p_a": "ok", "p_b": "ok"}
    assert [[lead.person_key for lead in call] for call in fake.calls] == [["p_a", "p_b"], ["p_a"]]


def test_unreachable_database_is_retryable() -> None:
    engine = create_engine("postgresql+psycopg://crm@127.0.0.1:1/crm", connect_args={"connect_timeout": 2})
    try:
        with pytest.raises(RetryableError, match="database unavailable"):
            local_handler(engine).handle(batch(transition("p_a", 1)))
    finally:
        engine.dispose()


def test_stored_offsets_defer_to_kafka(crm_engine: Engine) -> None:
    assert local_handler(crm_engine).stored_offsets([]) == {}


def test_decode_accepts_a_transition() -> None:
    t = transition("p_a", 3)
    assert local_handler_stub().decode(None, t.model_dump_json().encode()) == t


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "empty record value"),
        (b"", "empty record value"),
        (b"\x00\xffnot json", "not a LeadTransition"),
        (b'{"kind": "qualified"}', "person_key: Field required"),
        (b'{"kind": "promoted"}', "kind: Input should be 'qualified', 'recycled' or 'updated'"),
    ],
)
def test_decode_rejects_garbage_with_a_reason(value: bytes | None, expected: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        local_handler_stub().decode(b"p_a", value)
    assert expected in info.value.reason


def test_decode_reason_never_echoes_the_input() -> None:
    bad = transition().model_dump(mode="json") | {"contact": {"email": "ada@example.com", "phone": "+44 1"}}
    with pytest.raises(InvalidMessage) as info:
        local_handler_stub().decode(None, json.dumps(bad).encode())
    assert "contact.phone" in info.value.reason
    assert "ada@example.com" not in info.value.reason and "+44" not in info.value.reason


def local_handler_stub() -> SyncHandler:
    """Decoding needs no database; an engine that is never connected keeps the test honest about that."""
    return local_handler(create_engine("sqlite://"))
