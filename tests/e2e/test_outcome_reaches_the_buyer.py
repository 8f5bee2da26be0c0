"""End to end on the embedded broker: one buyer from an anonymous visit to a HubSpot deal is one person.

The buyer browses anonymously (the real Segment SDK against ingest on uvicorn), submits a LinkedIn Lead Gen form
(a signed webhook; ingest fetches the lead from a strict local LinkedIn fake), then logs in on the website
(``identify`` with user id, email and the same anonymous id). HubSpot reports a deal through crm-sync's webhook
v3 (deal → contact → email looked up on the strict fake HubSpot), keyed by email as crm-sync keys every outcome.
The real scoring worker merges the keys and the real outcomes consumer stores the outcome; the outcome must be
read under the same canonical person as every stored event, and the backtest must count it. The deal may also
arrive before the login: it is kept under the email's key and attaches when the identity appears.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from segment.analytics import Client as SegmentClient
from sqlalchemy import Engine
from sqlmodel import Session, select

import tests.unit.ingest.linkedin.test_client as linkedin_fake
from peerscore.crm_sync.adapters.factory import CrmClients
from peerscore.crm_sync.app import create_app as create_crm_app
from peerscore.crm_sync.config import CrmSyncConfig
from peerscore.crm_sync.settings import HubSpotSettings
from peerscore.db import create_tables
from peerscore.events import PersonIdentifiers
from peerscore.identity import email_person_key, person_key
from peerscore.ingest.settings import LinkedInSettings
from peerscore.kafka_io import KafkaPublisher, make_publisher
from peerscore.runtime import BackgroundLoop
from peerscore.scoring.backtest import Period, run_backtest
from peerscore.scoring.domain import load_default_ruleset
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.identity.batch import PrivacyConfig
from peerscore.scoring.identity.canonical import canonical_keys, load_links
from peerscore.scoring.identity.merge import MERGED_MARKER
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.outcomes.consumer import outcome_loop
from peerscore.scoring.outcomes.models import OutcomeRow
from peerscore.scoring.outcomes.store import load_outcomes
from peerscore.settings import ApiAuthSettings, DatabaseSettings, IdentitySettings, KafkaSettings, RuntimeSettings
from peerscore.topics import Topics
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_servers import HUBSPOT_TOKEN
from tests.conftest import unique
from tests.integration.crm_sync.test_hubspot_deal_outcomes import CLIENT_SECRET as HUBSPOT_CLIENT_SECRET
from tests.integration.crm_sync.test_hubspot_deal_outcomes import deal_event
from tests.integration.crm_sync.test_hubspot_deal_outcomes import post as post_to_hubspot_webhook
from tests.integration.ingest.test_sdk_clients import SECRET, SEGMENT_KEY, sdk, serve
from tests.processes import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ANON = "anon-5c1e-77"
USER = "u-1042"
EMAIL = "ada.lovelace@acme-analytics.com"  # what the LinkedIn fake's form holds (mixed case there)
CONTACT, DEAL = "501", "9001"
KEY = SECRET.encode()


def key_of(**ids: str) -> str:
    key = person_key(PersonIdentifiers(**ids), KEY)
    assert key is not None
    return key


UID_KEY = key_of(user_id=USER)


@pytest.fixture
def linkedin(monkeypatch: pytest.MonkeyPatch) -> Iterator[linkedin_fake.FakeLinkedIn]:
    """The strict LinkedIn fake, its lead submitted now and with every consent box ticked (a willing buyer)."""
    original = linkedin_fake.lead_response

    def consenting(response_id: str) -> dict[str, Any]:
        body = original(response_id)
        body["submittedAt"] = int(time.time() * 1000)
        body["formResponse"]["consentResponses"] = [{"consentId": 3, "accepted": True}]
        return body

    monkeypatch.setattr(linkedin_fake, "lead_response", consenting)
    server = linkedin_fake.FakeLinkedIn()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def crm_sync(kafka_settings: KafkaSettings, publisher: KafkaPublisher, tmp_path: Path) -> Iterator[TestClient]:
    """crm-sync's app with HubSpot outcomes on; the fake HubSpot knows the contact and the deal's association."""
    with hubspot_server() as hubspot:
        hubspot.state.records[EMAIL] = {"_id": CONTACT, "email": EMAIL}
        hubspot.state.extra["deal_contacts"] = {DEAL: [CONTACT]}
        app = create_crm_app(
            CrmSyncConfig(
                runtime=RuntimeSettings(env="dev"),
                kafka=kafka_settings,
                database=DatabaseSettings(database_url=f"sqlite:///{tmp_path / 'crm.db'}"),
                auth=ApiAuthSettings(),
                clients=CrmClients(
                    hubspot=HubSpotSettings(
                        access_token=SecretStr(HUBSPOT_TOKEN),
                        host=hubspot.url,
                        client_secret=SecretStr(HUBSPOT_CLIENT_SECRET.decode()),
                    )
                ),
                identity=IdentitySettings(person_key_secret=SecretStr(SECRET)),
            ),
            start_consumers=False,
            publisher=publisher,
        )
        with TestClient(app) as client:
            yield client


@pytest.fixture
def scoring(kafka_settings: KafkaSettings, topics: Topics, engine: Engine) -> Iterator[None]:
    """The scoring worker (with identity merges) and the outcomes consumer, running until the test ends.

    The topics exist before the consumers subscribe, as ``peerscore topics`` makes them in a deployment: a consumer
    that joins before its topic exists is assigned nothing until its next metadata refresh (five minutes).
    """
    create_tables(engine, SCORING_TABLES)
    publisher = make_publisher(kafka_settings, "scoring")
    ruleset = load_default_ruleset()
    worker = scoring_loop(
        kafka_settings,
        engine=engine,
        ruleset=lambda: ruleset,
        publisher=publisher,
        group_id=unique("scoring"),
        registry=CollectorRegistry(),
        poll_timeout_ms=200,
        privacy=PrivacyConfig(secret=KEY),
    )
    outcomes = outcome_loop(kafka=kafka_settings, group_id=unique("outcomes"), engine=engine, publisher=publisher)
    loops = [BackgroundLoop(worker, "e2e-scoring"), BackgroundLoop(outcomes, "e2e-outcomes")]
    for loop in loops:
        loop.start()
    try:
        yield
    finally:
        for loop in loops:
            loop.stop()
        publisher.close()


def submit_lead_form(ingest_url: str) -> None:
    raw = json.dumps(
        {
            "type": "LEAD_ACTION",
            "leadGenFormResponse": "urn:li:leadGenFormResponse:r-e2e-1",
            "leadGenForm": "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:42,1)",
            "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:5120"},
            "leadType": "SPONSORED",
            "leadAction": "CREATED",
            "occurredAt": int(time.time() * 1000),
        }
    ).encode()
    signature = hmac.new(linkedin_fake.CLIENT_SECRET, b"hmacsha256=" + raw, hashlib.sha256).hexdigest()
    response = httpx.post(f"{ingest_url}/v1/linkedin/leads", content=raw, headers={"X-LI-Signature": signature})
    assert response.status_code == 200 and response.json()["published"] == 1, response.text


def report_deal(crm_sync: TestClient) -> None:
    assert post_to_hubspot_webhook(crm_sync, [deal_event(71, DEAL)]) == 200


def links_resolve(engine: Engine, keys: set[str], to: str) -> bool:
    with Session(engine) as session:
        resolved = canonical_keys(keys, load_links(session))
    return set(resolved.values()) == {to}


def stored_outcomes(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return [(r.person_key, r.kind) for r in session.exec(select(OutcomeRow)).all()]


@pytest.mark.parametrize("deal_first", [False, True], ids=["deal-after-login", "deal-before-login"])
def test_a_hubspot_deal_lands_on_the_buyer_who_browsed_filled_a_linkedin_form_and_logged_in(
    kafka_settings: KafkaSettings,
    engine: Engine,
    linkedin: linkedin_fake.FakeLinkedIn,
    crm_sync: TestClient,
    scoring: None,
    deal_first: bool,
) -> None:
    li = LinkedInSettings(
        client_secret=SecretStr(linkedin_fake.CLIENT_SECRET.decode()),
        access_token=SecretStr(linkedin_fake.TOKEN),
        api_base_url=linkedin.base_url,
        api_version=linkedin_fake.VERSION,
    )
    email_key = email_person_key(EMAIL, KEY)
    errors: list[Exception] = []
    with serve(kafka_settings, linkedin=li) as ingest_url:
        segment = SegmentClient(
            SEGMENT_KEY, host=ingest_url, upload_interval=0.05, on_error=lambda e, _b: errors.append(e)
        )
        with sdk(segment):
            assert segment.page(anonymous_id=ANON, name="Pricing", properties={"path": "/pricing"})[0]
            segment.flush()
            submit_lead_form(ingest_url)
            if deal_first:
                report_deal(crm_sync)
                wait_until(lambda: stored_outcomes(engine) == [(email_key, "opportunity_created")], 40, "the deal")
                with Session(engine) as session:  # kept under the email's key until the login links it
                    assert [k for k, _, _ in load_outcomes(session)] == [email_key]
            traits = {"email": EMAIL.title(), "title": "VP of Marketing", "company": {"domain": "acme-analytics.com"}}
            assert segment.identify(user_id=USER, traits=traits, anonymous_id=ANON)[0]
            assert segment.page(user_id=USER, anonymous_id=ANON, name="Pricing", properties={"path": "/pricing"})[0]
    assert errors == []

    member = key_of(linkedin_member_urn="urn:li:person:Yx9-member")  # the member who filled the fake's form
    every_key = {email_key, member, key_of(anonymous_id=ANON)}
    wait_until(lambda: links_resolve(engine, every_key, UID_KEY), 60, "the merges of the buyer's keys")
    if not deal_first:
        report_deal(crm_sync)
    wait_until(lambda: len(stored_outcomes(engine)) == 1, 40, "the deal's outcome stored")

    assert stored_outcomes(engine) == [(email_key, "opportunity_created")]  # as sent: the audit trail
    with Session(engine) as session:
        history = session.exec(select(EventHistoryRow.person_key, EventHistoryRow.event)).all()
        links = load_links(session)
        outcomes = load_outcomes(session)
    types = sorted(json.loads(event)["type"] for _, event in history)
    # Markers of folded-in keys (system.identity.merged) are bookkeeping written as transfers land: not counted.
    assert [t for t in types if t != MERGED_MARKER] == [
        "identify",
        "linkedin.lead_form.submitted",
        "page.viewed",
        "page.viewed",
    ]
    assert set(canonical_keys({k for k, _ in history}, links).values()) == {UID_KEY}
    assert [(k, kind) for k, kind, _ in outcomes] == [(UID_KEY, "opportunity_created")]

    ruleset = load_default_ruleset()
    report = run_backtest(engine, ruleset, ruleset, Period())
    assert report.labelled_people == 1
    counted = report.precision_after
    assert counted.true_positives + counted.false_negatives == 1  # the deal is the one positive it knows
