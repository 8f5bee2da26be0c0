"""crm-sync never syncs withheld (opted-out) scores, erases a person key on request and logs it, and does not
let a transition published before the erasure bring the person back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, delete
from sqlmodel import Session, select

from peerscore.consumer import InvalidMessage, Message, RetryableError
from peerscore.crm_sync.adapters.base import AdapterFactory
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.crm_objects import CrmObject
from peerscore.crm_sync.erasure_models import CrmErasureLog
from peerscore.crm_sync.handler import SyncHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES, CrmLead, SyncLedger
from peerscore.crm_sync.privacy import ErasureHandler
from peerscore.events import ErasureRequest, LeadTransition
from peerscore_testkit.fake_servers import Fault
from tests.unit.crm_sync.factories import BASE_TIME, transition
from tests.unit.crm_sync.harness import Harness, harness

ERASED_AT = BASE_TIME + timedelta(hours=1)


def handler(engine: Engine) -> SyncHandler:
    return SyncHandler(engine, lambda session: LocalCrmAdapter(session), CrmMetrics(CollectorRegistry()))


def published(t: LeadTransition, at_ms: int, offset: int = 0) -> Message[LeadTransition]:
    return Message("peerscore.qualified.v1", 0, offset, t.person_key, t, at_ms)


def withheld(t: LeadTransition) -> LeadTransition:
    score = t.score.model_copy(update={"withheld": "opted_out", "total": 0.0, "qualified": False})
    return t.model_copy(update={"kind": "recycled", "score": score})


def crm_versions(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {r.person_key: r.version for r in session.exec(select(CrmLead)).all()}


def erasure(message_key: str = "p_ada", request: str = "r1") -> Message[ErasureRequest]:
    value = ErasureRequest(request_id=request, person_key=message_key, requested_at=ERASED_AT, erased_at=ERASED_AT)
    return Message("peerscore.erasure.v1", 0, 0, message_key, value, 0)


def test_an_opt_out_after_handoff_updates_the_record_and_opting_back_in_syncs_again(crm_engine: Engine) -> None:
    sync = handler(crm_engine)
    sync.handle([published(transition("p_ada", 1), 1)])
    sync.handle([published(withheld(transition("p_ada", 2)), 2)])
    assert crm_versions(crm_engine) == {"p_ada": 2}, "sales must see the opt-out"
    with Session(crm_engine) as session:
        row = session.exec(select(CrmLead)).one()
    assert (row.status, row.score, row.fit, row.reasons) == ("Opted out", 0.0, 0.0, [])

    sync.handle([published(transition("p_ada", 3), 3)])
    assert crm_versions(crm_engine) == {"p_ada": 3}


def test_a_person_who_opted_out_before_handoff_is_never_created_in_the_crm(crm_engine: Engine) -> None:
    handler(crm_engine).handle([published(withheld(transition("p_ada", 2)), 2)])
    assert crm_versions(crm_engine) == {}


def test_erasure_deletes_the_crm_row_and_ledger_and_logs_without_personal_data(crm_engine: Engine) -> None:
    sync = handler(crm_engine)
    sync.handle([published(transition("p_ada", 1), 1), published(transition("p_bob", 1, email="b@x.io"), 1, 1)])

    ErasureHandler(crm_engine).handle([erasure()])

    assert crm_versions(crm_engine) == {"p_bob": 1}
    with Session(crm_engine) as session:
        assert [r.person_key for r in session.exec(select(SyncLedger)).all()] == ["p_bob"]
        log = session.exec(select(CrmErasureLog)).one()
    assert (log.person_key, log.request_id, log.erased_at) == ("p_ada", "r1", ERASED_AT)
    assert log.deleted == {
        "crm_lead": 0,  # deleted by the local CRM itself, which the log names:
        "crm_sync_ledger": 1,
        "crm_retry_state": 0,
        "crm_object": 1,
        "crm_merge_link": 0,
        "crm_pending": 0,
        "crm_pending_association": 0,
        "crm_alert_ledger": 0,
    }
    assert log.crm_objects == [
        {"crm": "local", "person_key": "p_ada", "object_type": "crm_lead", "object_id": "p_ada", "result": "deleted"}
    ]
    assert "@" not in str(log.model_dump())


def test_a_transition_published_before_the_erasure_does_not_resurrect_the_person(crm_engine: Engine) -> None:
    ErasureHandler(crm_engine).handle([erasure()])
    before_ms = int((ERASED_AT - timedelta(seconds=5)).timestamp() * 1000)
    after_ms = int((ERASED_AT + timedelta(seconds=5)).timestamp() * 1000)
    sync = handler(crm_engine)

    sync.handle([published(transition("p_ada", 7), before_ms)])
    assert crm_versions(crm_engine) == {}

    sync.handle([published(transition("p_ada", 1), after_ms)])
    assert crm_versions(crm_engine) == {"p_ada": 1}, "a new person after the erasure starts again at version 1"


def test_undecodable_erasure_requests_are_invalid(crm_engine: Engine) -> None:
    with pytest.raises(InvalidMessage, match="not an ErasureRequest"):
        ErasureHandler(crm_engine).decode(None, b'{"request_id": "r", "requested_at": "x"}')


def rows_about(session: Session, *keys: str) -> list[str]:
    """Every crm-sync row (but the erasure log) naming one of ``keys``, as ``table: row``."""
    found = []
    for table in TABLES:
        if table is CrmErasureLog:
            continue
        for column in ("person_key", "source_key", "target_key"):
            if column in table.model_fields:
                where = getattr(table, column).in_(keys)
                found += [f"{table.__tablename__}: {row}" for row in session.exec(select(table).where(where)).all()]
    return found


def remote_factory(name: str, h: Harness) -> AdapterFactory:
    return LocalCrmAdapter if name == "local" else (lambda _session: h.adapter)


@pytest.mark.parametrize("name", ["local", "hubspot", "salesforce", "webhook"])
def test_an_opt_out_after_handoff_reaches_every_crm(crm_engine: Engine, tmp_path: Path, name: str) -> None:
    with harness(name, crm_engine, tmp_path) as h:
        sync = SyncHandler(crm_engine, remote_factory(name, h), CrmMetrics(CollectorRegistry()))
        sync.handle([published(transition("p_ada", 1), 1)])
        sync.handle([published(withheld(transition("p_ada", 2)), 2), published(withheld(transition("p_new", 1)), 2)])
        assert h.read("p_ada") == {"email": "ada@example.com", "version": 2, "status": "Opted out"}
        assert h.read("p_new") is None


@pytest.mark.parametrize("name", ["local", "hubspot", "salesforce", "webhook"])
def test_erasure_deletes_the_person_in_the_crm_and_every_crm_sync_table(
    crm_engine: Engine, tmp_path: Path, name: str
) -> None:
    with harness(name, crm_engine, tmp_path) as h:
        factory = remote_factory(name, h)
        SyncHandler(crm_engine, factory, CrmMetrics(CollectorRegistry())).handle(
            [published(transition("p_ada", 1), 1), published(transition("p_bob", 1, email="b@x.io"), 1, 1)]
        )
        with Session(crm_engine) as session:
            obj = session.get(CrmObject, (name, "p_ada"))
        ErasureHandler(crm_engine, factory).handle([erasure()])

        assert h.read("p_ada") is None and h.read("p_bob") is not None
        with Session(crm_engine) as session:
            assert rows_about(session, "p_ada") == []
            log = session.exec(select(CrmErasureLog)).one()
    named = (
        {"object_type": obj.object_type, "object_id": obj.object_id}
        if obj
        else {"object_type": None, "object_id": None}
    )
    assert log.crm_objects == [{"crm": name, "person_key": "p_ada", **named, "result": "deleted"}]
    assert (obj is None) is (name == "webhook"), "every CRM with ids of its own names the deleted record"


@pytest.mark.parametrize("name", ["hubspot", "salesforce"])
def test_an_erasure_the_crm_cannot_take_now_is_retried_not_dropped(
    crm_engine: Engine, tmp_path: Path, name: str
) -> None:
    with harness(name, crm_engine, tmp_path) as h:
        factory = remote_factory(name, h)
        SyncHandler(crm_engine, factory, CrmMetrics(CollectorRegistry())).handle([published(transition("p_ada", 1), 1)])
        h.refuse_all(Fault(503, {}, {"message": "Service Unavailable"}))
        with pytest.raises(RetryableError, match="erasure not done yet"):
            ErasureHandler(crm_engine, factory).handle([erasure()])
        with Session(crm_engine) as session:
            assert session.exec(select(CrmErasureLog)).all() == []
            assert session.get(CrmObject, (name, "p_ada")) is not None, "kept until the CRM confirms"
        h.refuse_all(None)
        ErasureHandler(crm_engine, factory).handle([erasure()])
        assert h.read("p_ada") is None


@pytest.mark.parametrize("name", ["hubspot", "salesforce"])
def test_a_person_synced_before_crm_ids_were_kept_is_found_by_their_key_and_erased(
    crm_engine: Engine, tmp_path: Path, name: str
) -> None:
    with harness(name, crm_engine, tmp_path) as h:
        factory = remote_factory(name, h)
        SyncHandler(crm_engine, factory, CrmMetrics(CollectorRegistry())).handle([published(transition("p_ada", 1), 1)])
        with Session(crm_engine) as session, session.begin():  # as an older crm-sync left it: ledger only
            session.execute(delete(CrmObject))
        ErasureHandler(crm_engine, factory).handle([erasure()])
        assert h.read("p_ada") is None
        with Session(crm_engine) as session:
            [entry] = session.exec(select(CrmErasureLog)).one().crm_objects
    assert entry["result"] == "deleted" and entry["message"].startswith("found by person key: ")
