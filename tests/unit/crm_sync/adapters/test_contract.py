"""ONE contract every CRM adapter meets, run over local, fake, HubSpot, Salesforce and webhook (the remote ones
through their real SDKs against strict local servers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from peerscore.crm_sync.adapters.base import PersonRecord, SyncResult
from peerscore.crm_sync.domain.mapping import CrmLeadRecord, to_crm_record
from peerscore.crm_sync.handler import call_adapter
from peerscore.events import LeadScore, LeadTransition
from peerscore_testkit.fake_servers import Fault
from tests.unit.crm_sync.factories import transition, two_line_transition
from tests.unit.crm_sync.harness import ADAPTERS, TIMEOUT_S, Harness, harness

REMOTE = ["fake", "hubspot", "salesforce", "salesforce_contact", "webhook"]


@pytest.fixture(params=ADAPTERS)
def crm(request: pytest.FixtureRequest, sqlite_engine: Engine, tmp_path: Path) -> Iterator[Harness]:
    with harness(request.param, sqlite_engine, tmp_path) as h:
        yield h


@pytest.fixture(params=REMOTE)
def remote(request: pytest.FixtureRequest, sqlite_engine: Engine, tmp_path: Path) -> Iterator[Harness]:
    with harness(request.param, sqlite_engine, tmp_path) as h:
        yield h


def leads(*keys: str, version: int = 1) -> list[CrmLeadRecord]:
    return [to_crm_record(transition(k, version, email=f"{k}@example.com")) for k in keys]


def settled(results: list[SyncResult]) -> list[tuple[str, int, str]]:
    return [(r.person_key, r.version, r.outcome) for r in results]


def test_upsert_reports_ok_per_lead_in_order(crm: Harness) -> None:
    assert settled(call_adapter(crm.adapter, leads("p_b", "p_a", "p_c"))) == [
        (k, 1, "ok") for k in ("p_b", "p_a", "p_c")
    ]
    assert crm.read("p_a") == {"email": "p_a@example.com", "version": 1, "status": "MQL"}


def test_upsert_updates_an_existing_lead_and_keeps_its_crm_object(crm: Harness) -> None:
    [first] = call_adapter(crm.adapter, leads("p_a"))
    newer = to_crm_record(transition("p_a", 2, kind="recycled", email="p_a@example.com"))
    [second] = call_adapter(crm.adapter, [newer])
    assert settled([second]) == [("p_a", 2, "ok")]
    assert crm.read("p_a") == {"email": "p_a@example.com", "version": 2, "status": "Recycled"}
    if crm.has_objects:
        assert first.object is not None and first.object.object_id, "the CRM's id is reported for the id table"
        assert second.object == first.object, "the same record was updated, not a second one created"


def test_more_leads_than_one_call_takes_are_split_within_the_crm_limit(crm: Harness) -> None:
    keys = [f"p_{i:03d}" for i in range(250)]
    results = call_adapter(crm.adapter, leads(*keys))
    assert [r.outcome for r in results] == ["ok"] * 250
    assert [r.person_key for r in results] == keys
    assert crm.read("p_249") is not None
    if crm.batch_limit is not None:
        assert max(crm.batch_sizes()) <= crm.batch_limit and sum(crm.batch_sizes()) == 250


def test_a_refused_lead_is_permanent_with_the_crms_message_and_the_others_are_stored(remote: Harness) -> None:
    remote.reject("p_bad@example.com", "INVALID_EMAIL: mailbox does not exist")
    results = call_adapter(remote.adapter, leads("p_ok", "p_bad", "p_ok2"))
    assert [(r.person_key, r.outcome) for r in results] == [("p_ok", "ok"), ("p_bad", "permanent"), ("p_ok2", "ok")]
    assert "mailbox does not exist" in (results[1].message or "")
    assert remote.read("p_ok2") is not None and remote.read("p_bad") is None


@pytest.mark.parametrize(
    "fault",
    [
        Fault(429, {"Retry-After": "7", "X-HubSpot-RateLimit-Remaining": "0"}, {"message": "rate limit"}),
        Fault(503, {}, {"message": "Service Unavailable"}),
        Fault(200, {}, {}, delay_s=TIMEOUT_S + 1.0),
        Fault(401, {}, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
        Fault(404, {}, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]),
    ],
    ids=["429", "5xx", "timeout", "auth", "wrong-url"],
)
def test_whole_call_failures_are_retryable_for_every_lead_and_nothing_is_stored(remote: Harness, fault: Fault) -> None:
    remote.refuse_all(fault)
    results = call_adapter(remote.adapter, leads("p_a", "p_b"))
    assert [(r.person_key, r.outcome) for r in results] == [("p_a", "retryable"), ("p_b", "retryable")]
    if fault.status == 429 and remote.sees_retry_after:
        assert results[0].retry_after == 7.0
    remote.refuse_all(None)
    assert remote.read("p_a") is None
    assert [r.outcome for r in call_adapter(remote.adapter, leads("p_a", "p_b"))] == ["ok", "ok"]


def upserted(crm: Harness, key: str, email: str | None = None) -> PersonRecord:
    [result] = call_adapter(crm.adapter, [to_crm_record(transition(key, 1, email=email or f"{key}@example.com"))])
    assert result.outcome == "ok"
    return PersonRecord(key, result.object)


def test_erase_deletes_the_person_from_the_crm_and_a_second_erase_finds_nothing(crm: Harness) -> None:
    erased, kept = upserted(crm, "p_a"), upserted(crm, "p_b")
    assert crm.adapter.erase(erased).outcome == "done"
    assert crm.read("p_a") is None and crm.read("p_b") is not None
    again = crm.adapter.erase(erased).outcome
    assert again == ("done" if not crm.has_objects else "gone"), "a redelivered erasure is not an error"
    assert crm.read(kept.person_key) is not None


def test_merge_leaves_one_live_record_for_the_buyer(crm: Harness) -> None:
    source, target = upserted(crm, "p_anon", "ada@old.example"), upserted(crm, "p_user", "ada@new.example")
    result = crm.adapter.merge(target, source)
    assert result.outcome == "done"
    live = [k for k in ("p_anon", "p_user") if (r := crm.read(k)) is not None and r["status"] != "Merged"]
    assert len(live) == 1
    if crm.has_objects:
        assert result.survivor is not None


def test_remote_erase_and_merge_fail_retryably_while_the_crm_is_down(remote: Harness) -> None:
    a, b = upserted(remote, "p_a"), upserted(remote, "p_b")
    remote.refuse_all(Fault(503, {}, {"message": "Service Unavailable"}))
    assert remote.adapter.erase(a).outcome == "retryable"
    assert remote.adapter.merge(b, a).outcome == "retryable"
    remote.refuse_all(None)
    assert remote.read("p_a") is not None and remote.read("p_b") is not None


def test_every_crm_shows_each_product_line_with_its_own_status(crm: Harness) -> None:
    """A two-line lead, an MQL for one line only: every CRM gets each line's score, grade and status."""
    [result] = call_adapter(crm.adapter, [to_crm_record(two_line_transition("p_a"))])
    assert result.outcome == "ok"
    assert crm.read("p_a") == {"email": "p_a@example.com", "version": 1, "status": "Open"}  # not an MQL as a whole
    assert crm.lines("p_a", ("cloud", "data")) == {
        "cloud": {"score": "65.0", "grade": "A", "status": "MQL"},
        "data": {"score": "40.0", "grade": "A", "status": "Open"},
    }
    recycled = two_line_transition("p_a", 2, kind="recycled")
    call_adapter(crm.adapter, [to_crm_record(recycled.model_copy(update={"score": _unqualified(recycled)}))])
    assert crm.lines("p_a", ("cloud", "data"))["cloud"]["status"] == "Recycled"


def _unqualified(t: LeadTransition) -> LeadScore:
    lines = {name: line.model_copy(update={"qualified": False}) for name, line in t.score.lines.items()}
    return t.score.model_copy(update={"lines": lines})
