"""Merges reach the CRM: two synced people merged by scoring end as one live CRM record, on every adapter; the
source's late transitions do not bring the retired record back; erasing the merged person deletes both records."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.consumer import InvalidMessage, Message, RetryableError
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.crm_objects import CrmMergeLink, CrmObject
from peerscore.crm_sync.erasure_models import CrmErasureLog
from peerscore.crm_sync.merges import MergeHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.privacy import ErasureHandler
from peerscore.crm_sync.worker import AdapterFactory, SyncHandler
from peerscore.events import ErasureRequest, LeadTransition, PersonMerged
from peerscore_testkit.fake_salesforce import add_record, records_of
from peerscore_testkit.fake_servers import Fault
from tests.unit.crm_sync.factories import BASE_TIME, transition
from tests.unit.crm_sync.harness import Harness, harness
from tests.unit.crm_sync.test_consent_erasure import rows_about

MERGED_AT = BASE_TIME + timedelta(hours=2)
ADAPTERS = ["local", "hubspot", "salesforce", "webhook"]


def factory_for(name: str, h: Harness) -> AdapterFactory:
    return LocalCrmAdapter if name == "local" else (lambda _session: h.adapter)


def notice(source: str = "p_anon", target: str = "p_user") -> Message[PersonMerged]:
    value = PersonMerged(merge_id=f"m-{source}-{target}", source_key=source, target_key=target, merged_at=MERGED_AT)
    return Message("peerscore.merges.v1", 0, 0, target, value, 0)


def published(t: LeadTransition, offset: int = 0) -> Message[LeadTransition]:
    return Message("peerscore.qualified.v1", 0, offset, t.person_key, t, 1)


def both_synced(engine: Engine, factory: AdapterFactory) -> SyncHandler:
    sync = SyncHandler(engine, factory, CrmMetrics(CollectorRegistry()))
    sync.handle(
        [
            published(transition("p_anon", 3, email="ada@forms.example")),
            published(transition("p_user", 5, email="ada@acme.example"), 1),
        ]
    )
    return sync


def live(h: Harness, *keys: str) -> list[str]:
    return [k for k in keys if (r := h.read(k)) is not None and r["status"] != "Merged"]


def objects(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {r.person_key: r.object_id for r in session.exec(select(CrmObject)).all()}


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_merge_of_two_synced_people_leaves_one_live_record(crm_engine: Engine, tmp_path: Path, name: str) -> None:
    with harness(name, crm_engine, tmp_path) as h:
        factory = factory_for(name, h)
        sync = both_synced(crm_engine, factory)
        before = objects(crm_engine)
        MergeHandler(crm_engine, factory).handle([notice()])
        assert live(h, "p_anon", "p_user") == ["p_user"]
        after = objects(crm_engine)
        if name != "webhook":
            assert "p_user" in after and after.get("p_anon") in (None, before["p_anon"])
        if name == "hubspot":
            assert after["p_user"] not in before.values(), "HubSpot gives the merged contact a new id"
            assert len(h.server.state.records) == 1  # type: ignore[union-attr]

        sync.handle([published(transition("p_anon", 4, email="ada@forms.example"), 2)])
        assert live(h, "p_anon", "p_user") == ["p_user"], "a late transition of the merged key is not synced"
        sync.handle([published(transition("p_user", 6, email="ada@acme.example"), 3)])
        assert h.read("p_user") is not None and h.read("p_user")["version"] == 6  # type: ignore[index]


def test_salesforce_marks_the_retired_lead_and_erasure_deletes_both(crm_engine: Engine, tmp_path: Path) -> None:
    with harness("salesforce", crm_engine, tmp_path) as h:
        factory = factory_for("salesforce", h)
        both_synced(crm_engine, factory)
        ids = objects(crm_engine)
        MergeHandler(crm_engine, factory).handle([notice()])
        state = h.server.state  # type: ignore[union-attr]
        retired = state.records[ids["p_anon"]]
        assert (retired["Peerscore_Status__c"], retired["Peerscore_Merged_Into__c"]) == ("Merged", ids["p_user"])

        request = ErasureRequest(request_id="r1", person_key="p_user", requested_at=MERGED_AT, erased_at=MERGED_AT)
        ErasureHandler(crm_engine, factory).handle([Message("peerscore.erasure.v1", 0, 0, "p_user", request, 0)])
        assert records_of(state, "Lead") == [], "the marked record held the buyer's data too"
        with Session(crm_engine) as session:
            log = session.exec(select(CrmErasureLog)).one()
            assert rows_about(session, "p_user", "p_anon") == []
    assert sorted((e["person_key"], e["object_id"], e["result"]) for e in log.crm_objects) == [
        ("p_anon", ids["p_anon"], "deleted"),
        ("p_user", ids["p_user"], "deleted"),
    ]


def test_a_contact_outranks_a_lead_when_salesforce_records_merge(crm_engine: Engine, tmp_path: Path) -> None:
    with harness("salesforce", crm_engine, tmp_path) as h:
        factory = factory_for("salesforce", h)
        state = h.server.state  # type: ignore[union-attr]
        contact = add_record(state, "Contact", Email="ada@forms.example", LastName="Lovelace")
        both_synced(crm_engine, factory)
        assert objects(crm_engine)["p_anon"] == contact
        MergeHandler(crm_engine, factory).handle([notice()])
        assert objects(crm_engine)["p_user"] == contact, "the target now has the buyer's Contact"
        [lead] = records_of(state, "Lead")
        assert (lead["Peerscore_Status__c"], lead["Peerscore_Merged_Into__c"]) == ("Merged", contact)


def test_a_merge_the_crm_cannot_take_now_is_retried(crm_engine: Engine, tmp_path: Path) -> None:
    with harness("hubspot", crm_engine, tmp_path) as h:
        factory = factory_for("hubspot", h)
        both_synced(crm_engine, factory)
        h.refuse_all(Fault(503, {}, {"message": "Service Unavailable"}))
        with pytest.raises(RetryableError, match="merge not done yet"):
            MergeHandler(crm_engine, factory).handle([notice()])
        with Session(crm_engine) as session:
            assert session.exec(select(CrmMergeLink)).all() == []
        h.refuse_all(None)
        MergeHandler(crm_engine, factory).handle([notice()])
        MergeHandler(crm_engine, factory).handle([notice()])  # redelivered: nothing more happens
        assert live(h, "p_anon", "p_user") == ["p_user"]
        assert len(h.server.state.extra["merges"]) == 1  # type: ignore[union-attr]


def test_a_merge_where_only_the_source_reached_the_crm_hands_its_record_to_the_target(crm_engine: Engine) -> None:
    SyncHandler(crm_engine, LocalCrmAdapter, CrmMetrics(CollectorRegistry())).handle(
        [published(transition("p_anon", 3, email="ada@forms.example"))]
    )
    MergeHandler(crm_engine, LocalCrmAdapter).handle([notice()])
    assert objects(crm_engine) == {"p_user": "p_user"}


def test_undecodable_merge_notices_are_invalid(crm_engine: Engine) -> None:
    with pytest.raises(InvalidMessage, match="not a PersonMerged"):
        MergeHandler(crm_engine).decode(None, b'{"merge_id": "m"}')


def test_a_chain_of_merges_keeps_every_retired_record_reachable_by_the_last_persons_erasure(
    crm_engine: Engine, tmp_path: Path
) -> None:
    with harness("salesforce", crm_engine, tmp_path) as h:
        factory = factory_for("salesforce", h)
        sync = both_synced(crm_engine, factory)
        sync.handle([published(transition("p_final", 1, email="ada@new.example"), 2)])
        MergeHandler(crm_engine, factory).handle([notice("p_anon", "p_user")])
        MergeHandler(crm_engine, factory).handle([notice("p_user", "p_final")])
        state = h.server.state  # type: ignore[union-attr]
        assert len(live(h, "p_anon", "p_user", "p_final")) == 1 and len(records_of(state, "Lead")) == 3

        request = ErasureRequest(request_id="r2", person_key="p_final", requested_at=MERGED_AT, erased_at=MERGED_AT)
        ErasureHandler(crm_engine, factory).handle([Message("peerscore.erasure.v1", 0, 0, "p_final", request, 0)])
        assert records_of(state, "Lead") == []
        with Session(crm_engine) as session:
            assert rows_about(session, "p_anon", "p_user", "p_final") == []
