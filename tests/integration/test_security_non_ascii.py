"""Non-ASCII credentials are refused like any wrong credential (401/403), never an unauthenticated 500.

Starlette decodes headers as Latin-1 and ``hmac.compare_digest`` raises on a non-ASCII ``str``: one ``é`` in a
signature, cookie or CSRF token used to crash the request. Each family of credential is sent here as raw
Latin-1 bytes (the way a client puts them on the wire), and nothing refused may be published."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from peerscore.crm_sync.adapters.factory import CrmClients
from peerscore.crm_sync.app import create_app as crm_app
from peerscore.crm_sync.config import CrmSyncConfig
from peerscore.crm_sync.settings import HubSpotSettings, OutcomeSettings, SalesforceSettings
from peerscore.db import make_engine
from peerscore.settings import ApiAuthSettings, DatabaseSettings, KafkaSettings
from tests.integration.test_security_routes import API_TOKEN, IDENTITY, PROD, RecordingPublisher, build_apps

pytestmark = pytest.mark.integration

E_ACUTE = "é".encode("latin-1")
SF_ORG = "00D000000000001AAA"
SF_TOKEN = "sf-outbound-token-5a7c9e1b3d"
CONSOLE_TOKEN = "console-admin-token-22aa"  # the token build_apps gives the console


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'non-ascii.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def apps(engine: Engine, publisher: RecordingPublisher) -> dict[str, FastAPI]:
    built = build_apps(engine, publisher)
    built["crm"] = crm_app(
        CrmSyncConfig(
            runtime=PROD,
            kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9"),
            database=DatabaseSettings(),
            auth=ApiAuthSettings(api_token=SecretStr(API_TOKEN)),
            clients=CrmClients(
                hubspot=HubSpotSettings(client_secret=SecretStr("hubspot-app-secret-71")),
                salesforce=SalesforceSettings(organization_id=SF_ORG, outbound_token=SecretStr(SF_TOKEN)),
            ),
            identity=IDENTITY,
            outcomes=OutcomeSettings(webhook_secret=SecretStr("outcome-webhook-secret-3b")),
        ),
        engine=engine,
        start_consumers=False,
        publisher=publisher,
    )
    return built


def client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def refused(status: int, location: str = "") -> bool:
    return status in (401, 403) or (status in (302, 303, 307) and "/login" in location)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": b"Bearer " + E_ACUTE * 24},
        {"Authorization": b"Bearer " + API_TOKEN.encode() + E_ACUTE},
    ],
    ids=["all-non-ascii", "token-plus-one"],
)
@pytest.mark.parametrize(
    ("service", "path"),
    [("scoring", "/v1/leads"), ("crm", "/v1/crm/leads"), ("scoring", "/console/rules")],
)
def test_non_ascii_bearer_tokens_are_refused(
    apps: dict[str, FastAPI], service: str, path: str, headers: dict[str, bytes]
) -> None:
    with client(apps[service]) as http:
        answer = http.get(path, headers=headers)  # type: ignore[arg-type]
    assert refused(answer.status_code, answer.headers.get("location", "")), (answer.status_code, answer.text[:200])


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": b"Basic " + b"w6k6"},  # base64 of "é:" in UTF-8
        {"Authorization": b"Basic " + E_ACUTE * 8},
        {"X-Write-Key": E_ACUTE * 12},
    ],
    ids=["basic-utf8-user", "basic-latin1-garbage", "x-write-key"],
)
def test_non_ascii_write_keys_are_401(
    apps: dict[str, FastAPI], publisher: RecordingPublisher, headers: dict[str, bytes]
) -> None:
    call = {"type": "track", "userId": "u-1", "event": "Pricing Viewed", "messageId": "m-1"}
    with client(apps["ingest"]) as http:
        answer = http.post("/v1/track", json=call, headers=headers)  # type: ignore[arg-type]
    assert answer.status_code == 401, answer.text[:200]
    assert publisher.records == []


def test_non_ascii_console_cookie_and_csrf_are_refused(apps: dict[str, FastAPI]) -> None:
    with client(apps["scoring"]) as http:
        forged_cookie = b"peerscore_console=1700000000.nonce." + E_ACUTE * 64
        answer = http.get("/console/rules", headers={"Cookie": forged_cookie})  # type: ignore[dict-item]
        assert refused(answer.status_code, answer.headers.get("location", "")), answer.status_code
        signed_in = http.post("/console/login", data={"token": CONSOLE_TOKEN, "next": "/console/rules"})
        assert signed_in.status_code == 303
        answer = http.post("/console/logout", data={"csrf": "é" * 64})
        assert answer.status_code == 403, answer.status_code


NOW_MS = b"{now_ms}"  # replaced by the current time: a stale timestamp would be refused before the signature
NOW_S = b"{now_s}"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/crm/outcomes/hubspot", {"X-HubSpot-Signature-v3": E_ACUTE * 44, "X-HubSpot-Request-Timestamp": NOW_MS}),
        ("/v1/crm/outcomes/hubspot", {"X-HubSpot-Signature-v3": b"Zm9yZ2Vk", "X-HubSpot-Request-Timestamp": b"\xb2"}),
        (
            "/v1/crm/outcomes/webhook",
            {"X-Peerscore-Signature": b"sha256=" + E_ACUTE * 64, "X-Peerscore-Timestamp": NOW_S},
        ),
        (
            "/v1/crm/outcomes/webhook",
            {"X-Peerscore-Signature": b"sha256=" + b"0" * 64, "X-Peerscore-Timestamp": b"\xb3"},
        ),
    ],
    ids=["hubspot-signature", "hubspot-superscript-timestamp", "webhook-signature", "webhook-superscript-timestamp"],
)
def test_non_ascii_crm_signatures_are_401(
    apps: dict[str, FastAPI], publisher: RecordingPublisher, path: str, headers: dict[str, bytes]
) -> None:
    now = time.time()
    fresh = {NOW_MS: str(int(now * 1000)).encode(), NOW_S: str(int(now)).encode()}
    sent = {name: fresh.get(value, value) for name, value in headers.items()}
    body = json.dumps([{"subscriptionType": "contact.propertyChange", "objectId": 1}]).encode()
    with client(apps["crm"]) as http:
        answer = http.post(path, content=body, headers={"Content-Type": "application/json", **sent})  # type: ignore[dict-item]
    assert answer.status_code == 401, answer.text[:200]
    assert publisher.records == []


def test_a_non_ascii_salesforce_organisation_is_401(apps: dict[str, FastAPI], publisher: RecordingPublisher) -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        "<OrganizationId>00D00000000000é</OrganizationId></notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()
    with client(apps["crm"]) as http:
        answer = http.post(
            f"/v1/crm/outcomes/salesforce/{SF_TOKEN}", content=body, headers={"Content-Type": "text/xml"}
        )
    assert answer.status_code == 401, answer.text[:200]
    assert publisher.records == []
