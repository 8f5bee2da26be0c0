"""Hostile input at the edges: missing and wrong write keys, forged webhook signatures, oversized, compressed-bomb
and deeply nested JSON, header injection, path traversal in CSV uploads. Each is refused with a 4xx (never a 5xx)
and publishes nothing; a well-formed request on the same app does publish (so the refusals are the checks)."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from peerscore.crm_sync.adapters.factory import CrmClients
from peerscore.crm_sync.app import create_app as crm_app
from peerscore.crm_sync.config import CrmSyncConfig
from peerscore.crm_sync.settings import HubSpotSettings, OutcomeSettings
from peerscore.db import make_engine
from peerscore.ingest.app import create_app as ingest_app
from peerscore.ingest.settings import IngestConfig, IngestSettings, LinkedInSettings
from peerscore.settings import ApiAuthSettings, DatabaseSettings, KafkaSettings
from tests.integration.test_security_routes import (
    API_TOKEN,
    IDENTITY,
    LINKEDIN_SECRET,
    PROD,
    WRITE_KEY,
    RecordingPublisher,
)

pytestmark = pytest.mark.integration

CALL = {"type": "track", "userId": "u-1", "event": "Pricing Viewed", "messageId": "m-1"}


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def ingest(publisher: RecordingPublisher) -> Iterator[TestClient]:
    app = ingest_app(
        IngestConfig(
            IngestSettings(write_keys=[WRITE_KEY]),
            IDENTITY,
            PROD,
            KafkaSettings(bootstrap_servers="127.0.0.1:9"),
            linkedin=LinkedInSettings(client_secret=SecretStr(LINKEDIN_SECRET)),
        ),
        publisher=publisher,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_valid_batch_is_published_so_the_refusals_below_mean_something(
    ingest: TestClient, publisher: RecordingPublisher
) -> None:
    assert ingest.post("/v1/batch", json={"batch": [CALL]}, auth=(WRITE_KEY, "")).status_code == 200
    assert len(publisher.records) == 1


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("/v1/batch", {"json": {"batch": [CALL]}}),
        ("/v1/batch", {"json": {"batch": [CALL]}, "auth": ("wrong-key", "")}),
        ("/v1/batch", {"json": {"batch": [CALL], "writeKey": "wrong-key"}}),
        ("/v1/track", {"json": CALL, "headers": {"X-Write-Key": "wrong-key"}}),
        ("/v1/batch", {"json": {"batch": [CALL]}, "headers": {"Authorization": f"Bearer {API_TOKEN}"}}),
        ("/v1/import/csv", {"files": {"file": ("leads.csv", b"email\nada@example.com\n", "text/csv")}}),
    ],
    ids=["no-key", "wrong-basic", "wrong-body-key", "wrong-header-key", "api-token-is-not-a-write-key", "csv-no-key"],
)
def test_missing_or_wrong_write_keys_are_401_and_publish_nothing(
    ingest: TestClient, publisher: RecordingPublisher, path: str, kwargs: dict[str, object]
) -> None:
    assert ingest.post(path, **kwargs).status_code == 401  # type: ignore[arg-type]
    assert publisher.records == []


def _nested(depth: int) -> bytes:
    return (
        b'{"batch": [{"type": "track", "userId": "u", "event": "e", "properties": '
        + b"[" * depth
        + b"]" * depth
        + b"}]}"
    )


@pytest.mark.parametrize(
    ("body", "headers", "statuses"),
    [
        (json.dumps({"batch": [CALL] * 20_000}).encode(), {}, {413}),
        (json.dumps({"batch": [{**CALL, "properties": {"x": "y" * 40_000}}]}).encode(), {}, {413}),
        (
            gzip.compress(b'{"batch": [' + b'{"type": "track"},' * 2_000_000 + b"{}]}"),
            {"Content-Encoding": "gzip"},
            {413},
        ),
        (_nested(100_000), {}, {400, 413, 422}),
        (_nested(5_000), {}, {400, 413, 422}),
        (b"\xff\xfe not json", {}, {400}),
        (b'{"batch": [1, 2, 3]}', {}, {400}),
        (json.dumps({"batch": [CALL]}).encode(), {"Content-Encoding": "br"}, {400, 415}),
    ],
    ids=["too-many-calls", "oversized-event", "gzip-bomb", "nested-100k", "nested-5k", "not-json", "not-calls", "enc"],
)
def test_oversized_bombs_and_deeply_nested_json_are_4xx_and_publish_nothing(
    ingest: TestClient, publisher: RecordingPublisher, body: bytes, headers: dict[str, str], statuses: set[int]
) -> None:
    answer = ingest.post(
        "/v1/batch", content=body, headers={"Content-Type": "application/json", **headers}, auth=(WRITE_KEY, "")
    )
    assert answer.status_code in statuses, answer.text[:300]
    assert publisher.records == []


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-write-key", WRITE_KEY.encode() + b"\r\nX-Injected: yes")],
        [(b"authorization", b"Basic " + WRITE_KEY.encode() + b"\r\nSet-Cookie: session=evil")],
        [(b"x-write-key", b"\x00" + WRITE_KEY.encode())],
        [(b"content-encoding", b"gzip\r\nX-Injected: yes")],
    ],
    ids=["crlf-write-key", "crlf-authorization", "nul-write-key", "crlf-content-encoding"],
)
def test_header_injection_is_refused_and_never_echoed(
    ingest: TestClient, publisher: RecordingPublisher, headers: list[tuple[bytes, bytes]]
) -> None:
    answer = ingest.post(
        "/v1/batch",
        content=json.dumps({"batch": [CALL]}).encode(),
        headers=dict(headers),  # type: ignore[arg-type]
    )
    assert 400 <= answer.status_code < 500
    assert "x-injected" not in answer.headers and "set-cookie" not in answer.headers
    assert publisher.records == []


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd", "leads/../../x.csv", ".."],
)
def test_path_traversal_in_csv_upload_names_is_refused(
    ingest: TestClient, publisher: RecordingPublisher, name: str, tmp_path: Path
) -> None:
    answer = ingest.post(
        "/v1/import/csv",
        files={"file": (name, b"email,first_name\nada@example.com,Ada\n", "text/csv")},
        auth=(WRITE_KEY, ""),
    )
    assert answer.status_code == 400, answer.text[:300]
    assert publisher.records == []


def _linkedin_body() -> bytes:
    return json.dumps({"type": "LEAD_ACTION", "leadGenFormResponse": "urn:li:leadGenFormResponse:1"}).encode()


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "0" * 64,
        hmac.new(b"wrong-secret", _linkedin_body(), hashlib.sha256).hexdigest(),
        "hmacsha256=" + "f" * 64,
        "é" * 64,  # sent as Latin-1 bytes
    ],
    ids=["missing", "empty", "zeros", "other-secret", "prefixed-garbage", "non-ascii"],
)
@pytest.mark.parametrize("path", ["/v1/linkedin/leads", "/v1/linkedin/social-actions"])
def test_forged_linkedin_signatures_are_refused(
    ingest: TestClient, publisher: RecordingPublisher, path: str, signature: str | None
) -> None:
    headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-LI-Signature"] = signature.encode("latin-1")
    answer = ingest.post(path, content=_linkedin_body(), headers=headers)  # type: ignore[arg-type]
    assert answer.status_code in (401, 403), answer.text[:300]
    assert publisher.records == []


def test_forged_crm_outcome_webhooks_are_401_and_publish_nothing(tmp_path: Path) -> None:
    publisher = RecordingPublisher()
    engine = make_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    app = crm_app(
        CrmSyncConfig(
            runtime=PROD,
            kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9"),
            database=DatabaseSettings(),
            auth=ApiAuthSettings(api_token=SecretStr(API_TOKEN)),
            clients=CrmClients(hubspot=HubSpotSettings(client_secret=SecretStr("hubspot-app-secret-71"))),
            identity=IDENTITY,
            outcomes=OutcomeSettings(webhook_secret=SecretStr("outcome-webhook-secret-3b")),
        ),
        engine=engine,
        start_consumers=False,
        publisher=publisher,
    )
    body = json.dumps([{"subscriptionType": "contact.propertyChange", "objectId": 1}]).encode()
    forged = {
        "/v1/crm/outcomes/hubspot": {"X-HubSpot-Signature-v3": "Zm9yZ2Vk", "X-HubSpot-Request-Timestamp": "1"},
        "/v1/crm/outcomes/webhook": {"X-Peerscore-Signature": "v1=" + "0" * 64, "X-Peerscore-Timestamp": "1"},
    }
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            for path, headers in forged.items():
                for attempt in (headers, {}, {"Authorization": f"Bearer {API_TOKEN}"}):
                    answer = client.post(path, content=body, headers={"Content-Type": "application/json", **attempt})
                    assert answer.status_code == 401, (path, attempt, answer.status_code)
    finally:
        engine.dispose()
    assert publisher.records == []
