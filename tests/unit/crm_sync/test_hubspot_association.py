"""A company association HubSpot cannot take now never fails the contact already written: it is kept pending (in
the sync's transaction) and retried on its own, without sending the contact again."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.crm_sync.adapters.base import AssociationRef
from peerscore.crm_sync.adapters.hubspot import HubSpotAdapter, make_hubspot_client
from peerscore.crm_sync.adapters.limits import SlidingWindowLimiter
from peerscore.crm_sync.associations import PendingAssociation
from peerscore.crm_sync.crm_objects import CrmObject
from peerscore.crm_sync.domain.mapping import DEFAULT_FIELD_MAPPING, to_crm_record
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import SyncLedger
from peerscore.crm_sync.worker import SyncHandler
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_servers import HUBSPOT_TOKEN, Fault
from tests.unit.crm_sync.factories import batch, transition

THROTTLED = Fault(429, {"Retry-After": "1"}, {"message": "You have reached your secondly limit."})


def adapter_for(url: str) -> HubSpotAdapter:
    elapsed = [0.0]  # simulated time: the limiter's pause after the 429 passes at once

    def sleep(seconds: float) -> None:
        elapsed[0] += seconds

    limiter = SlidingWindowLimiter(190, 10.0, clock=lambda: elapsed[0], sleep=sleep)
    return HubSpotAdapter(make_hubspot_client(HUBSPOT_TOKEN, url), DEFAULT_FIELD_MAPPING, limiter)


def test_a_throttled_association_is_reported_pending_and_can_be_made_alone() -> None:
    answers = iter([None, THROTTLED])
    with hubspot_server() as server:
        server.state.refuse = lambda: next(answers, None)  # the upsert goes through, the company search is throttled
        adapter = adapter_for(server.url)
        [result] = adapter.upsert([to_crm_record(transition("p_ada", 1, domain="Analytical.example"))])
        assert (result.outcome, result.association_pending) == ("ok", "analytical.example")
        assert result.object is not None and result.object.company_id is None
        contact = server.state.records["ada@example.com"]["_id"]
        made = adapter.associate([AssociationRef("p_ada", contact, "analytical.example")])
        company = server.state.extra["companies"]["analytical.example"]
        assert made == {"p_ada": company}
        assert server.state.extra["associations"] == {(contact, company)}


def test_the_worker_keeps_the_contact_synced_and_retries_the_association_without_resending(crm_engine: Engine) -> None:
    answers = iter([None, THROTTLED, THROTTLED])  # the association fails at the sync and at the retry right after
    with hubspot_server() as server:
        server.state.refuse = lambda: next(answers, None)
        adapter = adapter_for(server.url)
        handler = SyncHandler(crm_engine, lambda _s: adapter, CrmMetrics(CollectorRegistry()))
        handler.handle(batch(transition("p_ada", 1, domain="analytical.example")))  # no RetryableError
        with Session(crm_engine) as session:
            assert session.exec(select(SyncLedger.status)).all() == ["ok"]
            assert [p.domain for p in session.exec(select(PendingAssociation))] == ["analytical.example"]
        handler.on_idle()
        company = server.state.extra["companies"]["analytical.example"]
        with Session(crm_engine) as session:
            assert session.exec(select(PendingAssociation)).all() == []
            assert session.exec(select(CrmObject.company_id)).all() == [company]
        assert server.state.accepted == [("ada@example.com", "1")]  # the contact was sent once
