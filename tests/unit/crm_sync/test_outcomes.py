"""Outcome webhooks: signatures computed here from the published algorithms (never with the service's helpers),
wrong and stale signatures refused, payloads mapped to ``Outcome`` records keyed like ingest keys people."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.crm_sync import crm_objects
from peerscore.crm_sync.adapters.base import CrmObjectRef, SyncResult
from peerscore.crm_sync.adapters.factory import CrmClients
from peerscore.crm_sync.app import create_app
from peerscore.crm_sync.settings import HubSpotSettings, OutcomeSettings, SalesforceSettings
from peerscore.events import Outcome, PersonIdentifiers, utcnow
from peerscore.identity import person_key
from peerscore.settings import ApiAuthSettings, DatabaseSettings, IdentitySettings, KafkaSettings, RuntimeSettings
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_servers import HUBSPOT_TOKEN, FakeServer
from tests.unit.crm_sync.recording import RecordingPublisher

CLIENT_SECRET = b"hubspot-client-secret-91"
OUTCOME_SECRET = b"outcome-secret-5d2"
KEY_SECRET = b"person-key-secret-test"
ORG = "00D000000000001AAA"
HUBSPOT_URL = "http://testserver/v1/crm/outcomes/hubspot"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with hubspot_server() as s:
        s.state.records["ada@acme.example"] = {"_id": "501", "email": "ada@acme.example"}
        yield s


@pytest.fixture
def published() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def client(sqlite_engine: Engine, server: FakeServer, published: RecordingPublisher) -> Iterator[TestClient]:
    clients = CrmClients(
        hubspot=HubSpotSettings(
            access_token=SecretStr(HUBSPOT_TOKEN), host=server.url, client_secret=SecretStr(CLIENT_SECRET.decode())
        ),
        salesforce=SalesforceSettings(organization_id=ORG),
    )
    app = create_app(
        runtime=RuntimeSettings(env="dev"),
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="t"),
        database=DatabaseSettings(database_url="sqlite://"),
        auth=ApiAuthSettings(),
        clients=clients,
        identity=IdentitySettings(person_key_secret=SecretStr(KEY_SECRET.decode())),
        outcomes=OutcomeSettings(webhook_secret=SecretStr(OUTCOME_SECRET.decode())),
        engine=sqlite_engine,
        start_consumer=False,
        publisher=published,
    )
    with TestClient(app) as c:
        yield c


def outcomes(published: RecordingPublisher) -> list[Outcome]:
    return [Outcome.model_validate_json(r.value) for r in published.records]


def ada_key() -> str | None:
    return person_key(PersonIdentifiers(email="Ada@Acme.example"), KEY_SECRET)


def hubspot_post(client: TestClient, body: bytes, *, age_s: float = 0, secret: bytes = CLIENT_SECRET) -> int:
    timestamp = str(int((time.time() - age_s) * 1000))
    source = b"POST" + HUBSPOT_URL.encode() + body + timestamp.encode()
    signature = base64.b64encode(hmac.new(secret, source, hashlib.sha256).digest()).decode()
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}
    return client.post("/v1/crm/outcomes/hubspot", content=body, headers=headers).status_code


HUBSPOT_EVENTS = json.dumps(
    [
        {
            "eventId": 1,
            "subscriptionType": "contact.propertyChange",
            "objectId": 501,
            "propertyName": "hs_lead_status",
            "propertyValue": "UNQUALIFIED",
            "occurredAt": 1740819600000,
        },
        {
            "eventId": 2,
            "subscriptionType": "contact.propertyChange",
            "objectId": 501,
            "propertyName": "lifecyclestage",
            "propertyValue": "customer",
            "occurredAt": 1740819700000,
        },
        {"eventId": 3, "subscriptionType": "contact.creation", "objectId": 501},
    ]
).encode()


def test_hubspot_v3_signed_events_become_outcomes_keyed_like_ingest(
    client: TestClient, published: RecordingPublisher
) -> None:
    assert hubspot_post(client, HUBSPOT_EVENTS) == 200
    got = outcomes(published)
    assert [(o.kind, o.reason, o.event_id, o.crm_object_id) for o in got] == [
        ("rejected", "UNQUALIFIED", "hubspot:1", "501"),
        ("won", None, "hubspot:2", "501"),
    ]
    assert {o.person_key for o in got} == {ada_key()} and {r.key for r in published.records} == {ada_key()}
    assert published.records[0].topic == "t.outcomes.v1"


@pytest.mark.parametrize(("age_s", "secret"), [(0, b"wrong-secret"), (301, CLIENT_SECRET)], ids=["wrong", "old"])
def test_hubspot_wrong_or_old_signature_is_401(
    client: TestClient, published: RecordingPublisher, age_s: float, secret: bytes
) -> None:
    assert hubspot_post(client, HUBSPOT_EVENTS, age_s=age_s, secret=secret) == 401
    assert published.records == []


def generic_post(client: TestClient, payload: object, *, age_s: float = 0, secret: bytes = OUTCOME_SECRET) -> int:
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time() - age_s))
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"X-Peerscore-Signature": f"sha256={digest}", "X-Peerscore-Timestamp": timestamp}
    return client.post("/v1/crm/outcomes/webhook", content=body, headers=headers).status_code


def test_generic_signed_outcome_is_published(client: TestClient, published: RecordingPublisher) -> None:
    payload = {
        "event_id": "zap-9",
        "email": "ada@acme.example",
        "kind": "lost",
        "reason": "went with a competitor",
        "occurred_at": "2025-03-01T10:00:00+01:00",
    }
    assert generic_post(client, payload) == 200
    [o] = outcomes(published)
    assert (o.kind, o.reason, o.source, o.person_key, o.occurred_at.hour) == (
        "lost",
        "went with a competitor",
        "webhook",
        ada_key(),
        9,
    )


@pytest.mark.parametrize(("age_s", "secret"), [(0, b"nope"), (400, OUTCOME_SECRET)], ids=["wrong", "old"])
def test_generic_wrong_or_old_signature_is_401(client: TestClient, age_s: float, secret: bytes) -> None:
    assert generic_post(client, {"event_id": "1", "email": "a@b.c", "kind": "won"}, age_s=age_s, secret=secret) == 401


def test_generic_unknown_kind_is_400(client: TestClient) -> None:
    assert generic_post(client, {"event_id": "1", "email": "a@b.c", "kind": "promoted"}) == 400


def salesforce_message(org: str, doctype: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>{doctype}
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
 <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
  <OrganizationId>{org}</OrganizationId><ActionId>04k000000000001</ActionId>
  <Notification><Id>04l000000000001</Id>
   <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
    <sf:Id>00Q000000000001</sf:Id><sf:Email>ada@acme.example</sf:Email><sf:Status>Working - Contacted</sf:Status>
   </sObject></Notification>
  <Notification><Id>04l000000000002</Id>
   <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
    <sf:Id>006000000000001</sf:Id><sf:Peerscore_Email__c>ada@acme.example</sf:Peerscore_Email__c>
    <sf:StageName>Closed Won</sf:StageName>
   </sObject></Notification>
 </notifications></soapenv:Body></soapenv:Envelope>""".encode()


def test_salesforce_outbound_message_is_acknowledged_and_published(
    client: TestClient, published: RecordingPublisher
) -> None:
    response = client.post("/v1/crm/outcomes/salesforce", content=salesforce_message(ORG))
    assert response.status_code == 200 and "<Ack>true</Ack>" in response.text
    assert [(o.kind, o.crm_object_id, o.person_key) for o in outcomes(published)] == [
        ("accepted", "00Q000000000001", ada_key()),
        ("won", "006000000000001", ada_key()),
    ]


def test_salesforce_message_from_another_org_is_401(client: TestClient) -> None:
    assert (
        client.post("/v1/crm/outcomes/salesforce", content=salesforce_message("00D999999999999AAA")).status_code == 401
    )


def test_salesforce_message_with_a_dtd_is_refused(client: TestClient, published: RecordingPublisher) -> None:
    doctype = '<!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    assert client.post("/v1/crm/outcomes/salesforce", content=salesforce_message(ORG, doctype)).status_code == 400
    assert published.records == []


def synced(engine: Engine, crm: str, person: str, object_id: str, object_type: str) -> None:
    """What the sync worker records after the CRM took the person's lead (see test_crm_objects)."""
    result = SyncResult(person, 1, "ok", object=CrmObjectRef(object_id, object_type))
    with Session(engine) as session, session.begin():
        crm_objects.remember(session, crm, [result], utcnow())


def test_a_hubspot_contact_synced_by_peerscore_resolves_to_its_person_not_the_email_hash(
    client: TestClient, published: RecordingPublisher, sqlite_engine: Engine
) -> None:
    """A Segment site keys the buyer by user id: the contact's email hash is not their person key."""
    synced(sqlite_engine, "hubspot", "p_user_ada", "501", "contact")
    assert hubspot_post(client, HUBSPOT_EVENTS) == 200
    assert {o.person_key for o in outcomes(published)} == {"p_user_ada"}


def test_a_salesforce_opportunity_resolves_through_its_contact_id(
    client: TestClient, published: RecordingPublisher, sqlite_engine: Engine
) -> None:
    synced(sqlite_engine, "salesforce", "p_user_ada", "003000000000042", "Contact")
    synced(sqlite_engine, "salesforce", "p_lead_ada", "00Q000000000001", "Lead")
    message = salesforce_message(ORG).replace(
        b"<sf:StageName>", b"<sf:ContactId>003000000000042</sf:ContactId><sf:StageName>"
    )
    assert client.post("/v1/crm/outcomes/salesforce", content=message).status_code == 200
    assert [(o.kind, o.crm_object_id, o.person_key) for o in outcomes(published)] == [
        ("accepted", "00Q000000000001", "p_lead_ada"),
        ("won", "006000000000001", "p_user_ada"),
    ]


def test_unknown_crm_ids_fall_back_to_the_email(
    client: TestClient, published: RecordingPublisher, sqlite_engine: Engine
) -> None:
    synced(sqlite_engine, "salesforce", "p_someone_else", "501", "Lead")  # same id, another CRM: not a match
    assert hubspot_post(client, HUBSPOT_EVENTS) == 200
    assert {o.person_key for o in outcomes(published)} == {ada_key()}
