"""HubSpot deal webhooks end to end: a v3-signed notification (signature computed here from HubSpot's published
algorithm) → deal → contacts → emails through the SDK on the strict fake HubSpot → one ``Outcome`` per contact on
the real broker's outcomes topic, acknowledged before HubSpot gets 200."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from peerscore.crm_sync.adapters.factory import CrmClients
from peerscore.crm_sync.app import create_app
from peerscore.crm_sync.settings import HubSpotSettings
from peerscore.events import Outcome, PersonIdentifiers
from peerscore.identity import person_key
from peerscore.kafka_io import KafkaPublisher
from peerscore.settings import ApiAuthSettings, DatabaseSettings, IdentitySettings, KafkaSettings, RuntimeSettings
from peerscore.topics import Topics
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_servers import HUBSPOT_TOKEN, FakeServer, Fault
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration

CLIENT_SECRET = b"hubspot-client-secret-deals"
KEY_SECRET = b"person-key-secret-deals"
URL = "http://testserver/v1/crm/outcomes/hubspot"
CUSTOM_WON = "4815162342"  # a customised pipeline's own "won" stage id


@pytest.fixture
def hubspot() -> Iterator[FakeServer]:
    with hubspot_server() as server:
        server.state.records["ada@acme.example"] = {"_id": "501", "email": "ada@acme.example"}
        server.state.records["bob@acme.example"] = {"_id": "502", "email": "bob@acme.example"}
        server.state.extra["deal_contacts"] = {"9001": ["501", "502"], "9002": []}
        server.state.extra["association_page_size"] = 1  # forces the per-deal paging to be followed
        yield server


@pytest.fixture
def client(
    hubspot: FakeServer, kafka_settings: KafkaSettings, topics: Topics, publisher: KafkaPublisher, tmp_path: Path
) -> Iterator[TestClient]:
    settings = HubSpotSettings(
        access_token=SecretStr(HUBSPOT_TOKEN),
        host=hubspot.url,
        client_secret=SecretStr(CLIENT_SECRET.decode()),
        deal_won_stages=["closedwon", CUSTOM_WON],
        webhook_lookup_timeout_s=0.5,
    )
    app = create_app(
        runtime=RuntimeSettings(env="dev"),
        kafka=kafka_settings,
        # A file: the endpoint reads crm-sync's id table from the thread pool (an in-memory database is per thread).
        database=DatabaseSettings(database_url=f"sqlite:///{tmp_path / 'crm.db'}"),
        auth=ApiAuthSettings(),
        clients=CrmClients(hubspot=settings),
        identity=IdentitySettings(person_key_secret=SecretStr(KEY_SECRET.decode())),
        start_consumer=False,
        publisher=publisher,
    )
    with TestClient(app) as c:
        yield c


def deal_event(event_id: int, deal: str, stage: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": event_id,
        "subscriptionId": 77,
        "portalId": 123,
        "appId": 456,
        "occurredAt": 1740819600000 + event_id,
        "attemptNumber": 0,
        "objectId": int(deal),
        "changeSource": "CRM_UI",
    }
    if stage is None:
        return event | {"subscriptionType": "deal.creation"}
    return event | {"subscriptionType": "deal.propertyChange", "propertyName": "dealstage", "propertyValue": stage}


def post(client: TestClient, events: list[dict[str, Any]]) -> int:
    """Signed like HubSpot's v3 docs: base64(HMAC-SHA256(client secret, method + URI + body + timestamp))."""
    body = json.dumps(events).encode()
    timestamp = str(int(time.time() * 1000))
    digest = hmac.new(CLIENT_SECRET, b"POST" + URL.encode() + body + timestamp.encode(), hashlib.sha256).digest()
    headers = {"X-HubSpot-Signature-v3": base64.b64encode(digest).decode(), "X-HubSpot-Request-Timestamp": timestamp}
    return client.post("/v1/crm/outcomes/hubspot", content=body, headers=headers).status_code


def published(kafka_settings: KafkaSettings, topics: Topics, expect: int) -> list[tuple[str | None, Outcome]]:
    records = read_topic(kafka_settings, topics.outcomes, expect=expect, timeout=15, grace_s=1.0)
    return [(key, Outcome.model_validate_json(value)) for key, value in records]


def key(email: str) -> str | None:
    return person_key(PersonIdentifiers(email=email), KEY_SECRET)


def test_won_and_created_deals_publish_one_outcome_per_contact_and_a_redelivery_repeats_the_event_ids(
    client: TestClient, kafka_settings: KafkaSettings, topics: Topics
) -> None:
    events = [deal_event(11, "9001"), deal_event(12, "9001", CUSTOM_WON)]
    assert post(client, events) == 200
    assert post(client, events) == 200  # HubSpot redelivers (e.g. our first answer was lost)
    got = published(kafka_settings, topics, expect=8)
    assert len(got) == 8
    first, second = got[:4], got[4:]
    assert [(k, o.event_id, o.kind, o.crm_object_id, o.source) for k, o in first] == [
        (key("ada@acme.example"), "hubspot:11:501", "opportunity_created", "9001", "hubspot"),
        (key("bob@acme.example"), "hubspot:11:502", "opportunity_created", "9001", "hubspot"),
        (key("ada@acme.example"), "hubspot:12:501", "won", "9001", "hubspot"),
        (key("bob@acme.example"), "hubspot:12:502", "won", "9001", "hubspot"),
    ]
    assert [o.event_id for _, o in second] == [o.event_id for _, o in first]
    assert all(o.person_key == k for k, o in got)


@pytest.mark.parametrize(
    "fault",
    [
        Fault(503, {}, {"message": "Service Unavailable"}),
        Fault(429, {"Retry-After": "1"}, {"message": "You have reached your secondly limit."}),
        Fault(200, {}, {}, delay_s=2.0),
    ],
    ids=["5xx", "429", "timeout"],
)
def test_a_failed_lookup_answers_503_and_publishes_nothing(
    client: TestClient, hubspot: FakeServer, kafka_settings: KafkaSettings, topics: Topics, fault: Fault
) -> None:
    hubspot.state.refuse = lambda: fault
    started = time.monotonic()
    assert post(client, [deal_event(21, "9001", "closedlost")]) == 503
    assert time.monotonic() - started < 2.0  # answered before HubSpot's webhook timeout, not after the CRM's
    hubspot.state.refuse = None
    assert read_topic(kafka_settings, topics.outcomes, expect=1, timeout=2) == []


def test_a_later_failure_in_the_same_webhook_still_publishes_nothing(
    client: TestClient, hubspot: FakeServer, kafka_settings: KafkaSettings, topics: Topics
) -> None:
    hubspot.state.extra["association_page_size"] = 500
    calls = iter([None, Fault(502)])  # the associations read works, the contacts read fails
    hubspot.state.refuse = lambda: next(calls, None)
    assert post(client, [deal_event(31, "9001", "closedwon")]) == 503
    assert read_topic(kafka_settings, topics.outcomes, expect=1, timeout=2) == []


def test_stages_that_are_not_configured_and_deals_without_contacts_are_acknowledged_without_outcomes(
    client: TestClient, hubspot: FakeServer, kafka_settings: KafkaSettings, topics: Topics
) -> None:
    assert post(client, [deal_event(41, "9001", "appointmentscheduled")]) == 200
    assert hubspot.state.requests == []  # nothing to publish: HubSpot is not even asked
    assert post(client, [deal_event(42, "9002", "closedwon")]) == 200
    assert read_topic(kafka_settings, topics.outcomes, expect=1, timeout=2) == []
