"""Every route of every service's FastAPI app is either on an explicit allow-list (health, metrics, API docs, the
ingest endpoints that check write keys, signed webhooks, the console's sign-in page) or refuses requests without
the bearer token outside dev. A route added later without auth fails here. Least privilege: the read token opens
every protected API route except the admin ones (publishing rules, promoting models, outcomes, erasure), which
answer it 403; the admin token opens all of them; neither opens the console (it has its own token). Every route
that is not a GET is admin unless listed with a reason. Nothing is published by a refused request, and dev mode
says loudly that its APIs are open."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import structlog
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from peerscore.crm_sync.app import create_app as crm_app
from peerscore.crm_sync.config import CrmSyncConfig
from peerscore.db import make_engine
from peerscore.ingest.app import create_app as ingest_app
from peerscore.ingest.settings import IngestConfig, IngestSettings, LinkedInSettings
from peerscore.kafka_io import OutgoingRecord
from peerscore.scoring.app import ScoringConfig
from peerscore.scoring.app import create_app as scoring_app
from peerscore.scoring.console import ConsoleSettings
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import ApiAuthSettings, DatabaseSettings, IdentitySettings, KafkaSettings, RuntimeSettings

pytestmark = pytest.mark.integration

READ_TOKEN = "read-token-2b8d4f6a1c"
ADMIN_TOKEN = "admin-token-7f3e9c2a1b"
API_TOKEN = ADMIN_TOKEN  # the deprecated single token acts as the admin token
WRITE_KEY = "write-key-5d8e2f"
LINKEDIN_SECRET = "linkedin-client-secret-91ab"
PROD = RuntimeSettings(env="prod")
IDENTITY = IdentitySettings(person_key_secret=SecretStr("person-key-secret-4c2d"))

# (service, method, path) → why it needs no bearer token. Anything else must refuse a request without one.
ALLOWED: dict[tuple[str, str, str], str] = {
    **{(s, "GET", p): "operations" for s in ("ingest", "scoring", "crm") for p in ("/healthz", "/readyz", "/metrics")},
    **{
        (s, m, p): "API description (no data)"
        for s in ("ingest", "scoring", "crm")
        for m in ("GET", "HEAD")
        for p in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
    },
    **{
        ("ingest", "POST", f"/v1/{p}"): "Segment write key (checked below)"
        for p in ("batch", "track", "identify", "page", "screen", "group", "alias", "import/csv")
    },
    ("ingest", "GET", "/v1/linkedin/leads"): "LinkedIn's validation challenge (answers an HMAC, no data)",
    ("ingest", "GET", "/v1/linkedin/social-actions"): "LinkedIn's validation challenge (answers an HMAC, no data)",
    ("ingest", "POST", "/v1/linkedin/leads"): "LinkedIn signature (checked below)",
    ("ingest", "POST", "/v1/linkedin/social-actions"): "LinkedIn signature (checked below)",
    ("crm", "POST", "/v1/crm/outcomes/hubspot"): "HubSpot signature (checked below)",
    ("crm", "POST", "/v1/crm/outcomes/salesforce"): "Salesforce org id + endpoint token (test_outcome_edges.py)",
    ("crm", "POST", "/v1/crm/outcomes/salesforce/{token}"): "Salesforce endpoint token (test_outcome_edges.py)",
    ("crm", "POST", "/v1/crm/outcomes/webhook"): "webhook signature (checked below)",
    ("scoring", "GET", "/console"): "redirects to the console's sign-in",
    ("scoring", "GET", "/console/login"): "the console's sign-in page",
    ("scoring", "POST", "/console/login"): "the console's sign-in (checks the admin token)",
    ("scoring", "GET", "/console/static/{name}"): "stylesheet and script",
}


ADMIN_ROUTES = {
    ("scoring", "POST", "/v1/outcomes"),
    ("scoring", "DELETE", "/v1/people/{email}"),
    ("scoring", "POST", "/v1/people/erase"),
    ("scoring", "GET", "/v1/erasures/{request_id}"),
    ("scoring", "POST", "/v1/models/{version}/promote"),
    ("scoring", "POST", "/v1/models/rollback"),
    ("scoring", "DELETE", "/v1/models/challenger"),
    ("scoring", "POST", "/v1/rulesets"),
    ("scoring", "POST", "/v1/rulesets/rollback"),
    ("scoring", "POST", "/v1/rulesets/{version}/publish"),
}
"""Routes only the admin token may call."""

READ_WRITES: dict[tuple[str, str, str], str] = {
    ("scoring", "POST", "/v1/backtests"): "a what-if run over stored events: changes nothing",
    ("scoring", "DELETE", "/v1/backtests/{job_id}"): "cancels such a run",
    ("scoring", "POST", "/v1/leads/search"): "a lead lookup with the email in the body instead of the URL",
}
"""Non-GET routes the read token may call (anything else that is not a GET must be in ADMIN_ROUTES)."""


def needs(service: str, method: str, path: str) -> str:
    """Which credential a protected route takes: "console" (its own token), "admin" or "read"."""
    if path.startswith("/console"):
        return "console"
    if (service, method, path) in ADMIN_ROUTES:
        return "admin"
    return "read"


class RecordingPublisher:
    """Stands in for Kafka: whatever a refused request published would show up here."""

    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self.records.extend(records)

    def flush(self, timeout: float | None = None) -> None:
        return None


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'security.db'}")
    yield engine
    engine.dispose()


def build_apps(engine: Engine, publisher: RecordingPublisher, kafka: KafkaSettings | None = None) -> dict[str, FastAPI]:
    """The three apps as production builds them (token set, not dev), without starting consumers."""
    auth = ApiAuthSettings(read_token=SecretStr(READ_TOKEN), admin_token=SecretStr(ADMIN_TOKEN))
    kafka = kafka or KafkaSettings(bootstrap_servers="127.0.0.1:9")
    config = ScoringConfig(
        runtime=PROD,
        kafka=kafka,
        database=DatabaseSettings(),
        scoring=ScoringSettings(),
        auth=auth,
        identity=IDENTITY,
        console=ConsoleSettings(admin_token=SecretStr("console-admin-token-22aa")),
    )
    return {
        "ingest": ingest_app(
            IngestConfig(
                IngestSettings(write_keys=[WRITE_KEY]),
                IDENTITY,
                PROD,
                kafka,
                linkedin=LinkedInSettings(client_secret=SecretStr(LINKEDIN_SECRET)),
            ),
            publisher=publisher,
        ),
        "scoring": scoring_app(config, engine=engine, publisher=publisher, start_consumers=False),
        "crm": crm_app(
            CrmSyncConfig(runtime=PROD, kafka=kafka, database=DatabaseSettings(), auth=auth, identity=IDENTITY),
            engine=engine,
            start_consumers=False,
            publisher=publisher,
        ),
    }


def routes(app: FastAPI) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in iter_route_contexts(app.routes):
        path, methods = route.path, route.methods
        if path is None or not methods:
            continue
        found.extend((method, path) for method in sorted(methods))
    return found


def concrete(path: str) -> str:
    """A request path for a route template: emails where an email goes, harmless ids elsewhere."""
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "ada@example.com" if m.group(1) == "email" else "probe-1", path)


def refused(status: int, headers: dict[str, str]) -> bool:
    if status in (401, 403):
        return True
    return status in (302, 303, 307) and "/login" in headers.get("location", "")


def unprotected(apps: dict[str, FastAPI]) -> tuple[list[str], int]:
    """Routes off the allow-list that answer without the bearer token (or with a wrong one); and how many were tried."""
    checked, open_routes = 0, []
    for service, app in apps.items():
        client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        found = routes(app)
        assert found, service
        for method, path in found:
            if (service, method, path) in ALLOWED:
                continue
            url = concrete(path)
            for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": API_TOKEN}):
                answer = client.request(method, url, headers=headers)
                if not refused(answer.status_code, dict(answer.headers)):
                    open_routes.append(f"{service} {method} {path} {headers or 'no auth'} → {answer.status_code}")
            checked += 1
    return open_routes, checked


def test_every_route_needs_the_bearer_token_unless_allow_listed(sqlite_engine: Engine) -> None:
    publisher = RecordingPublisher()
    apps = build_apps(sqlite_engine, publisher)
    open_routes, checked = unprotected(apps)
    assert not open_routes, "routes answer without the bearer token:\n" + "\n".join(open_routes)
    assert checked >= 30, "the enumeration found too few protected routes"
    assert publisher.records == [], "a refused request published something"

    # The same token does get through (so the refusals above are the auth, not a broken route).
    with TestClient(apps["scoring"], raise_server_exceptions=False) as client:  # its lifespan prepares the schema
        assert client.get("/v1/leads", headers={"Authorization": f"Bearer {READ_TOKEN}"}).status_code == 200
    with TestClient(apps["crm"]) as crm:  # its lifespan opens the database (no consumer here)
        assert crm.get("/v1/crm/leads", headers={"Authorization": f"Bearer {READ_TOKEN}"}).status_code == 200


def protected_routes(apps: dict[str, FastAPI]) -> list[tuple[str, str, str]]:
    return [
        (service, method, path)
        for service, app in apps.items()
        for method, path in routes(app)
        if (service, method, path) not in ALLOWED
    ]


def test_every_mutation_is_admin_unless_listed() -> None:
    """A new POST/PUT/PATCH/DELETE must be classified: admin, or a read-level write with a reason."""
    with_tmp = make_engine("sqlite://")
    try:
        found = protected_routes(build_apps(with_tmp, RecordingPublisher()))
    finally:
        with_tmp.dispose()
    unclassified = [r for r in found if r[1] not in ("GET", "HEAD") and needs(*r) == "read" and r not in READ_WRITES]
    assert unclassified == [], f"mutations guarded only by the read token: {unclassified}"
    assert ADMIN_ROUTES <= set(found) and set(READ_WRITES) <= set(found), "stale entries"


def test_read_and_admin_tokens_each_open_only_their_routes(sqlite_engine: Engine) -> None:
    """The read token: reads yes, admin routes 403, console no. The admin token: every API route, console no."""
    publisher = RecordingPublisher()
    apps = build_apps(sqlite_engine, publisher)
    wrong: list[str] = []
    for token_name, token in (("read", READ_TOKEN), ("admin", ADMIN_TOKEN)):
        for service, method, path in protected_routes(apps):
            kind = needs(service, method, path)
            with TestClient(apps[service], raise_server_exceptions=False, follow_redirects=False) as client:
                answer = client.request(method, concrete(path), headers={"Authorization": f"Bearer {token}"})
            if kind == "console" or (kind == "admin" and token_name == "read"):
                ok = refused(answer.status_code, dict(answer.headers))
                if kind == "admin":
                    ok = answer.status_code == 403  # known but not allowed: not a 401
            else:
                ok = not refused(answer.status_code, dict(answer.headers))
            if not ok:
                wrong.append(f"{token_name} token: {service} {method} {path} ({kind}) → {answer.status_code}")
        if token_name == "read":
            assert publisher.records == [], "the read token published something"
    assert not wrong, "\n".join(wrong)


def test_a_route_added_without_auth_is_caught(sqlite_engine: Engine) -> None:
    apps = build_apps(sqlite_engine, RecordingPublisher())

    @apps["scoring"].get("/v1/leads-export")
    def leak() -> list[str]:
        return ["ada@example.com"]

    open_routes, _ = unprotected({"scoring": apps["scoring"]})
    assert any("/v1/leads-export" in r for r in open_routes)


def test_the_allow_list_has_no_stale_entries(sqlite_engine: Engine) -> None:
    """An allow-listed route that no longer exists would hide a renamed one: keep the list exact."""
    apps = build_apps(sqlite_engine, RecordingPublisher())
    present = {(service, method, path) for service, app in apps.items() for method, path in routes(app)}
    assert set(ALLOWED) - present == set()


def test_outside_dev_a_missing_api_token_refuses_to_start(sqlite_engine: Engine) -> None:
    config = ScoringConfig(
        runtime=PROD,
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9"),
        database=DatabaseSettings(),
        scoring=ScoringSettings(),
        auth=ApiAuthSettings(),
        identity=IDENTITY,
    )
    with pytest.raises(ValueError, match="PEERSCORE_API_TOKEN"):
        scoring_app(config, engine=sqlite_engine, publisher=RecordingPublisher(), start_consumers=False)
    with pytest.raises(ValueError, match="PEERSCORE_API_TOKEN"):
        crm_app(
            CrmSyncConfig(
                runtime=PROD,
                kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9"),
                database=DatabaseSettings(),
                auth=ApiAuthSettings(),
                identity=IDENTITY,
            ),
            engine=sqlite_engine,
            start_consumers=False,
        )


def test_dev_mode_says_loudly_that_the_apis_are_open(sqlite_engine: Engine) -> None:
    dev = RuntimeSettings(env="dev")
    with structlog.testing.capture_logs() as logs:
        app = crm_app(
            CrmSyncConfig(
                runtime=dev,
                kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9"),
                database=DatabaseSettings(),
                auth=ApiAuthSettings(),
            ),
            engine=sqlite_engine,
            start_consumers=False,
        )
    warnings = [e for e in logs if e["event"] == "api_open_without_token"]
    assert warnings and warnings[0]["log_level"] == "warning"
    with TestClient(app) as client:
        assert client.get("/v1/crm/leads").status_code == 200, "dev without a token is open, as announced"
