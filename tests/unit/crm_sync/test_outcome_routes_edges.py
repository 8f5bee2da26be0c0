"""The outcome webhooks' edges as the review attacked them: bodies of any size read before the sender was known,
a Salesforce endpoint authenticated by a public org id, a DTD check that UTF-16 walked past, HubSpot signatures
that fail behind TLS termination, and HubSpot timestamps from the future. Signatures are computed here from the
published algorithms; the app runs as in production (``PEERSCORE_ENV=prod``)."""

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

from peerscore.crm_sync.adapters.factory import CrmClients
from peerscore.crm_sync.app import create_app
from peerscore.crm_sync.config import CrmSyncConfig
from peerscore.crm_sync.domain.outcomes import BadOutcomePayload, salesforce_outcomes
from peerscore.crm_sync.outcome_routes import hubspot_signature_ok
from peerscore.crm_sync.settings import HubSpotSettings, OutcomeSettings, SalesforceSettings
from peerscore.settings import ApiAuthSettings, DatabaseSettings, IdentitySettings, KafkaSettings, RuntimeSettings
from tests.unit.crm_sync.recording import RecordingPublisher
from tests.unit.crm_sync.test_outcome_routes import CLIENT_SECRET, KEY_SECRET, ORG, OUTCOME_SECRET, salesforce_message

SF_TOKEN = "sf-outbound-token-9c1e4b7a2d5f8e03"
PUBLIC_BASE = "https://crm-sync.example.com"
LIMIT = 64 * 1024
PROD = RuntimeSettings(env="prod")


def build(engine: Engine, published: RecordingPublisher, **salesforce: object) -> TestClient:
    sf = {"organization_id": ORG, "outbound_token": SecretStr(SF_TOKEN), **salesforce}
    app = create_app(
        CrmSyncConfig(
            runtime=PROD,
            kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="t"),
            database=DatabaseSettings(database_url="sqlite://"),
            auth=ApiAuthSettings(api_token=SecretStr("api-token-for-edges-7d1")),
            clients=CrmClients(
                hubspot=HubSpotSettings(client_secret=SecretStr(CLIENT_SECRET.decode())),
                salesforce=SalesforceSettings(**sf),  # type: ignore[arg-type]
            ),
            identity=IdentitySettings(person_key_secret=SecretStr(KEY_SECRET.decode())),
            outcomes=OutcomeSettings(
                webhook_secret=SecretStr(OUTCOME_SECRET.decode()), max_body_bytes=LIMIT, public_base_url=PUBLIC_BASE
            ),
        ),
        engine=engine,
        start_consumers=False,
        publisher=published,
    )
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def published() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def client(sqlite_engine: Engine, published: RecordingPublisher) -> Iterator[TestClient]:
    with build(sqlite_engine, published) as c:
        yield c


def hubspot_headers(url: str, body: bytes, *, at_s: float | None = None) -> dict[str, str]:
    timestamp = str(int((time.time() if at_s is None else at_s) * 1000))
    source = b"POST" + url.encode() + body + timestamp.encode()
    signature = base64.b64encode(hmac.new(CLIENT_SECRET, source, hashlib.sha256).digest()).decode()
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}


def sf_url(token: str = SF_TOKEN) -> str:
    return f"/v1/crm/outcomes/salesforce/{token}"


@pytest.mark.parametrize(
    "path", ["/v1/crm/outcomes/hubspot", "/v1/crm/outcomes/webhook", "/v1/crm/outcomes/salesforce/" + SF_TOKEN]
)
def test_oversized_bodies_are_413_before_the_sender_is_checked_or_anything_parsed(
    client: TestClient, published: RecordingPublisher, path: str
) -> None:
    huge = b"<" + b"x" * (LIMIT + 10)
    assert client.post(path, content=huge).status_code == 413

    def streamed() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        for _ in range(LIMIT // 1024 + 2):
            yield b"x" * 1024

    assert client.post(path, content=streamed()).status_code == 413
    assert published.records == []


def test_salesforce_needs_the_endpoint_token_and_checks_it_before_parsing(
    client: TestClient, published: RecordingPublisher
) -> None:
    message = salesforce_message(ORG)  # the right, public org id: what an attacker can copy from a ConfigMap
    assert client.post("/v1/crm/outcomes/salesforce", content=message).status_code == 401
    assert client.post(sf_url("guessed-token-000000000000"), content=message).status_code == 401
    assert client.post(sf_url("guessed"), content=b"<not xml").status_code == 401  # not 400: nothing parsed
    assert published.records == []
    answer = client.post(sf_url(), content=message)
    assert answer.status_code == 200 and "<Ack>true</Ack>" in answer.text
    assert len(published.records) == 2
    assert client.post(sf_url(), content=salesforce_message("00D999999999999AAA")).status_code == 401


def test_salesforce_org_id_without_a_token_refuses_to_start_outside_dev(
    sqlite_engine: Engine, published: RecordingPublisher
) -> None:
    with pytest.raises(ValueError, match="SALESFORCE_OUTBOUND_TOKEN"):
        build(sqlite_engine, published, outbound_token=SecretStr(""))
    with pytest.raises(ValueError, match="at least"):
        build(sqlite_engine, published, outbound_token=SecretStr("short-token"))


def test_a_utf16_dtd_is_refused_like_a_utf8_one(client: TestClient, published: RecordingPublisher) -> None:
    """The old check searched the bytes for ``<!doctype``; in UTF-16 every other byte is NUL, so it missed, and
    expat then expanded the entity into the outcome."""
    doctype = '<!DOCTYPE x [<!ENTITY who "ada@acme.example">]>'
    text = salesforce_message(ORG, doctype).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    text = text.replace("<sf:Email>ada@acme.example</sf:Email>", "<sf:Email>&who;</sf:Email>")
    for body in (text.encode("utf-16"), text.encode("utf-16-be"), text.replace("UTF-16", "UTF-8").encode()):
        answer = client.post(sf_url(), content=body)
        assert answer.status_code == 400, answer.text[:200]
    assert published.records == []


def test_hubspot_signatures_verify_against_the_public_url_behind_tls_termination(client: TestClient) -> None:
    """HubSpot signs ``https://<public host>/…``; the proxy forwards plain ``http://<pod>``."""
    body = b"[]"  # a valid delivery with nothing to look up
    public = hubspot_headers(PUBLIC_BASE + "/v1/crm/outcomes/hubspot", body)
    assert client.post("/v1/crm/outcomes/hubspot", content=body, headers=public).status_code == 200
    as_seen = hubspot_headers("http://testserver/v1/crm/outcomes/hubspot", body)
    assert client.post("/v1/crm/outcomes/hubspot", content=body, headers=as_seen).status_code == 401


@pytest.mark.parametrize(("offset_s", "status"), [(30, 200), (600, 401), (86_400 * 365, 401)])
def test_hubspot_timestamps_from_the_future_are_refused_beyond_a_minute(
    client: TestClient, offset_s: float, status: int
) -> None:
    body = b"[]"
    headers = hubspot_headers(PUBLIC_BASE + "/v1/crm/outcomes/hubspot", body, at_s=time.time() + offset_s)
    assert client.post("/v1/crm/outcomes/hubspot", content=body, headers=headers).status_code == status


def test_public_base_url_must_be_http_or_https() -> None:
    with pytest.raises(ValueError, match="OUTCOMES_PUBLIC_BASE_URL"):
        OutcomeSettings(public_base_url="crm-sync.example.com")
    assert OutcomeSettings(public_base_url="https://x.example/crm/").public_base_url == "https://x.example/crm"


def test_generic_webhook_json_is_not_parsed_before_its_signature(
    client: TestClient, published: RecordingPublisher
) -> None:
    body = json.dumps({"event_id": "1", "email": "a@b.example", "kind": "won"}).encode()
    assert client.post("/v1/crm/outcomes/webhook", content=body + b"{{").status_code == 401
    assert published.records == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_the_parser_itself_refuses_a_dtd_in_any_encoding(encoding: str) -> None:
    """Pure check of the parser the endpoint uses (no route in between)."""
    doctype = '<!DOCTYPE x [<!ENTITY who "ada@acme.example">]>'
    text = salesforce_message(ORG, doctype).decode().replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"')
    with pytest.raises(BadOutcomePayload, match="UTF-8"):
        salesforce_outcomes(text.encode(encoding))
    with pytest.raises(BadOutcomePayload, match="DTD"):  # and in UTF-8, by the parser
        salesforce_outcomes(text.replace(f'encoding="{encoding.upper()}"', 'encoding="UTF-8"').encode())


@pytest.mark.parametrize(("offset_s", "ok"), [(-299, True), (59, True), (61, False), (3600, False)])
def test_hubspot_timestamps_are_accepted_five_minutes_back_and_one_minute_ahead(offset_s: float, ok: bool) -> None:
    now = 1_750_000_000.0
    timestamp = str(int((now + offset_s) * 1000))
    url, body = "https://crm-sync.example.com/v1/crm/outcomes/hubspot", b"[]"
    source = b"POST" + url.encode() + body + timestamp.encode()
    signature = base64.b64encode(hmac.new(CLIENT_SECRET, source, hashlib.sha256).digest()).decode()
    assert hubspot_signature_ok(CLIENT_SECRET, "POST", url, body, timestamp, signature, now) is ok
