"""crm-sync never syncs withheld (opted-out) scores, erases a person key on request and logs it, and does not
let a transition published before the erasure bring the person back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.consumer import InvalidMessage, Message
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.erasure_models import CrmErasureLog
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import CrmLead, SyncLedger
from peerscore.crm_sync.privacy import ErasureHandler
from peerscore.crm_sync.worker import SyncHandler
from peerscore.events import ErasureRequest, LeadTransition
from tests.unit.crm_sync.factories import BASE_TIME, transition

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


def test_withheld_scores_are_skipped_and_opting_back_in_syncs_again(crm_engine: Engine) -> None:
    sync = handler(crm_engine)
    sync.handle([published(transition("p_ada", 1), 1)])
    sync.handle([published(withheld(transition("p_ada", 2)), 2)])
    assert crm_versions(crm_engine) == {"p_ada": 1}, "the opt-out version never reached the CRM"
    with Session(crm_engine) as session:
        ledger = session.exec(select(SyncLedger)).one()
    assert ledger.last_version == 1

    sync.handle([published(transition("p_ada", 3), 3)])
    assert crm_versions(crm_engine) == {"p_ada": 3}


def test_erasure_deletes_the_crm_row_and_ledger_and_logs_without_personal_data(crm_engine: Engine) -> None:
    sync = handler(crm_engine)
    sync.handle([published(transition("p_ada", 1), 1), published(transition("p_bob", 1, email="b@x.io"), 1, 1)])

    ErasureHandler(crm_engine).handle([erasure()])

    assert crm_versions(crm_engine) == {"p_bob": 1}
    with Session(crm_engine) as session:
        assert [r.person_key for r in session.exec(select(SyncLedger)).all()] == ["p_bob"]
        log = session.exec(select(CrmErasureLog)).one()
    assert (log.person_key, log.request_id, log.erased_at) == ("p_ada", "r1", ERASED_AT)
    assert log.deleted == {"crm_lead": 1, "crm_sync_ledger": 1, "crm_retry_state": 0, "crm_pending": 0}
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
