"""One contract every CRM adapter must meet, run against each adapter, plus adapter-specific behaviour."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.crm_sync.adapters.base import CrmObjectRef, SyncResult
from peerscore.crm_sync.adapters.fake import FakeCrmAdapter
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.domain.mapping import FieldMappingError, to_crm_record
from peerscore.crm_sync.models import CrmLead
from tests.unit.crm_sync.factories import transition

SYNCED_AT = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
Reader = Callable[[str], dict[str, Any] | None]
"""Reads back what the CRM holds for a person: at least ``email``, ``version`` and ``status``."""


def test_local_crm_keeps_the_qualification_date_when_a_lead_is_recycled(crm_engine: Engine) -> None:
    qualified = transition("p_a", 1)
    with Session(crm_engine) as session, session.begin():
        LocalCrmAdapter(session).upsert([to_crm_record(qualified)])
    with Session(crm_engine) as session, session.begin():
        LocalCrmAdapter(session, clock=lambda: SYNCED_AT).upsert(
            [to_crm_record(transition("p_a", 2, kind="recycled", reasons=("No visit in 30 days",)))]
        )
    with Session(crm_engine) as session:
        row = session.get(CrmLead, "p_a")
        assert row is not None
        assert (row.status, row.version, row.reasons) == ("Recycled", 2, ["No visit in 30 days"])
        assert row.qualified_at == qualified.transitioned_at
        assert row.synced_at == SYNCED_AT  # read back tz-aware from SQLite


def test_local_crm_writes_nothing_if_the_callers_transaction_rolls_back(crm_engine: Engine) -> None:
    with Session(crm_engine) as session, pytest.raises(RuntimeError), session.begin():
        LocalCrmAdapter(session).upsert([to_crm_record(transition("p_a", 1))])
        raise RuntimeError("the ledger write failed")
    with Session(crm_engine) as session:
        assert session.get(CrmLead, "p_a") is None


def test_local_crm_refuses_two_versions_of_one_person_in_a_call(crm_engine: Engine) -> None:
    with Session(crm_engine) as session, pytest.raises(ValueError, match="one lead per person"):
        LocalCrmAdapter(session).upsert([to_crm_record(transition("p_a", 1)), to_crm_record(transition("p_a", 2))])


def test_fake_crm_reports_injected_failures_per_lead_and_keeps_the_rest() -> None:
    fake = FakeCrmAdapter(
        permanent_failures={"p_bad": "INVALID_EMAIL"}, retryable_failures={"p_slow": "429"}, retry_after=7.0
    )
    leads = [to_crm_record(transition(key, 3)) for key in ("p_ok", "p_bad", "p_slow")]
    assert fake.upsert(leads) == [
        SyncResult("p_ok", 3, "ok", object=CrmObjectRef("fake-p_ok", "contact")),
        SyncResult("p_bad", 3, "permanent", "INVALID_EMAIL"),
        SyncResult("p_slow", 3, "retryable", "429", 7.0),
    ]
    assert set(fake.contacts) == {"p_ok"}
    assert fake.calls == [leads]


def test_fake_crm_can_be_unreachable() -> None:
    with pytest.raises(ConnectionError):
        FakeCrmAdapter(unavailable=True).upsert([to_crm_record(transition())])


def test_fake_crm_validates_its_field_mapping() -> None:
    with pytest.raises(FieldMappingError):
        FakeCrmAdapter(field_mapping={"nope": "x"})
