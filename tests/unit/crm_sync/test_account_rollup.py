"""The account roll-up on the HubSpot company: every synced person of the company counts, not only one batch's."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from peerscore.crm_sync.domain.accounts import AccountRollup, hubspot_company_properties, roll_up
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.worker import SyncHandler
from peerscore_testkit.fake_hubspot import hubspot_server
from tests.unit.crm_sync.factories import batch, transition
from tests.unit.crm_sync.harness import hubspot_adapter


def test_roll_up_counts_people_mqls_and_keeps_the_best_score_and_grade() -> None:
    rows = [("c1", 72.5, "A", "MQL"), ("c1", 40.0, "B", "Recycled"), ("c2", None, None, "Opted out")]
    assert roll_up(rows) == [AccountRollup("c1", 2, 1, 72.5, "A"), AccountRollup("c2", 1, 0, 0.0, None)]
    assert hubspot_company_properties(roll_up(rows)[0]) == {
        "peerscore_account_score": "72.5",
        "peerscore_account_mqls": "1",
        "peerscore_account_people": "2",
        "peerscore_account_grade": "A",
    }


def test_the_hubspot_company_carries_the_roll_up_of_all_its_synced_people(crm_engine: Engine) -> None:
    with hubspot_server() as server:
        adapter = hubspot_adapter(server.url)
        sync = SyncHandler(crm_engine, lambda _s: adapter, CrmMetrics(CollectorRegistry()))
        sync.handle(
            batch(
                transition("p_ada", 1, email="ada@acme.example", domain="acme.example", total=72.5),
                transition("p_bob", 1, email="bob@acme.example", domain="acme.example", total=55.0),
                transition("p_cy", 1, email="cy@other.example", domain="other.example", total=61.0),
            )
        )
        acme = server.state.extra["companies"]["acme.example"]
        rolled = server.state.extra["company_properties"]
        assert rolled[acme] == {
            "peerscore_account_score": "72.5",
            "peerscore_account_mqls": "2",
            "peerscore_account_people": "2",
            "peerscore_account_grade": "A",
        }
        # A later batch with one person of the company still rolls up both.
        sync.handle(batch(transition("p_ada", 2, kind="recycled", email="ada@acme.example", domain="acme.example")))
        assert (rolled[acme]["peerscore_account_mqls"], rolled[acme]["peerscore_account_people"]) == ("1", "2")
        assert rolled[acme]["peerscore_account_score"] == "72.5", "Ada's recycled version keeps her score"
        other = server.state.extra["companies"]["other.example"]
        assert rolled[other]["peerscore_account_people"] == "1"
