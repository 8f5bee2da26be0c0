"""A company association HubSpot cannot take now never fails the contact already written: it is kept pending and
retried on its own, without sending the contact again."""

from __future__ import annotations

from peerscore.crm_sync.adapters.hubspot import HubSpotAdapter, make_hubspot_client
from peerscore.crm_sync.adapters.limits import SlidingWindowLimiter
from peerscore.crm_sync.domain.mapping import DEFAULT_FIELD_MAPPING, to_crm_record
from tests.unit.crm_sync.factories import transition
from tests.unit.crm_sync.fake_hubspot import hubspot_server
from tests.unit.crm_sync.fake_servers import HUBSPOT_TOKEN, Fault


def test_a_throttled_association_leaves_the_contact_synced_and_is_retried_alone() -> None:
    answers = iter([None, Fault(429, {"Retry-After": "1"}, {"message": "You have reached your secondly limit."})])
    with hubspot_server() as server:
        server.state.refuse = lambda: next(answers, None)  # the upsert goes through, the company search is throttled
        limiter = SlidingWindowLimiter(190, 10.0, sleep=lambda s: None)
        adapter = HubSpotAdapter(make_hubspot_client(HUBSPOT_TOKEN, server.url), DEFAULT_FIELD_MAPPING, limiter)
        lead = to_crm_record(transition("p_ada", 1, domain="analytical.example"))
        [result] = adapter.upsert([lead])
        assert result.outcome == "ok" and result.object is not None and result.object.company_id is None
        assert adapter.pending_associations() == 1
        assert adapter.retry_associations() == 0
        contact = server.state.records["ada@example.com"]["_id"]
        company = server.state.extra["companies"]["analytical.example"]
        assert server.state.extra["associations"] == {(contact, company)}
        assert server.state.accepted == [("ada@example.com", "1")]  # the contact was sent once
