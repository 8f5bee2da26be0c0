"""A schemathesis fuzz pass over the three OpenAPI specs (ingest, scoring, crm-sync), in production mode.

The apps are built as production builds them (``build_apps``: prod settings, read and admin tokens, write keys,
signed webhooks) on the test database (SQLite, and PostgreSQL when ``TEST_DATABASE_URL`` is set) and publish to
the embedded broker through a real acks=all publisher. Every operation gets generated requests twice: with the
credential that opens it (the admin token; the write key for ingest's Segment endpoints) and without any. Two
rules hold for every generated request: no 5xx, and a refused request (4xx) publishes nothing to Kafka. The
publisher is wrapped so each request's records are attributed to it, and the broker's topics are counted
afterwards so the wrapper cannot hide a record.

Requests are generated both valid by the schema (positive) and violating it (negative). The pass is bounded for
``make test`` (``FUZZ_EXAMPLES`` examples per operation, credential and mode, 4 by default: about a minute per
database) and replays the same requests every run; ``FUZZ_EXAMPLES=50`` is a longer run drawing new ones each
time. The request count and the status table per app are written to ``var/bench/fuzz.json`` (one entry per
database) so the numbers can be quoted.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Err, Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation
from sqlalchemy import Engine

from peerscore.kafka_io import KafkaPublisher, OutgoingRecord
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.integration.test_security_routes import ADMIN_TOKEN, WRITE_KEY, RecordingPublisher, build_apps
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
LONG_RUN = "FUZZ_EXAMPLES" in os.environ
"""``make test`` replays the same generated requests every run (derandomised); a long run explores afresh."""
REPORT = Path(__file__).resolve().parents[2] / "var" / "bench" / "fuzz.json"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WRITE_KEY_AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}


class CountingPublisher:
    """The real publisher, counting what goes through it so a request's records can be attributed to it."""

    def __init__(self, inner: KafkaPublisher) -> None:
        self.inner = inner
        self.published: list[OutgoingRecord] = []

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self.inner.publish(records, wait=wait)
        self.published.extend(records)

    def flush(self, timeout: float | None = None) -> None:
        self.inner.flush(timeout)


def credential(service: str, path: str) -> dict[str, str]:
    """What opens an operation: the write key for ingest's Segment endpoints, the admin token elsewhere."""
    if service == "ingest" and not path.startswith("/v1/linkedin"):
        return WRITE_KEY_AUTH
    return BEARER


class FuzzPass:
    """Runs generated requests against one app and keeps the status table and every broken rule."""

    def __init__(self, publisher: CountingPublisher) -> None:
        self.publisher = publisher
        self.statuses: dict[str, Counter[int]] = {}
        self.broken: list[str] = []

    def run(self, service: str, app: FastAPI) -> None:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        results = list(schema.get_all_operations())
        invalid = [result.err() for result in results if isinstance(result, Err)]
        assert not invalid, f"{service}'s OpenAPI spec has operations schemathesis cannot read: {invalid}"
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert operations, service
        table = self.statuses.setdefault(service, Counter())
        for operation in operations:
            for mode in GenerationMode:
                for headers in (credential(service, operation.path), {}):
                    self._fuzz(service, operation, mode, headers, table)

    def _fuzz(
        self, service: str, operation: APIOperation, mode: GenerationMode, headers: dict[str, str], table: Counter[int]
    ) -> None:
        label = f"{service} {operation.method.upper()} {operation.path} {mode.value} {'auth' if headers else 'no auth'}"

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=not LONG_RUN,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def one_request(case: schemathesis.Case) -> None:
            before = len(self.publisher.published)
            try:
                response = case.call(headers=headers)
            except Exception as error:  # the in-process transport re-raises what a server would answer 500 to
                table[500] += 1
                self.broken.append(f"{label} → 500 ({type(error).__name__}: {error!s:.200}): {case.as_curl_command()}")
                return
            published = len(self.publisher.published) - before
            table[response.status_code] += 1
            if response.status_code >= 500:
                self.broken.append(f"{label} → {response.status_code}: {response.text[:200]}: {case.as_curl_command()}")
            elif 400 <= response.status_code < 500 and published:
                self.broken.append(f"{label} → {response.status_code} but published {published} record(s)")

        try:
            one_request()
        except Unsatisfiable:  # nothing in the operation can be made invalid (no parameters, no body)
            if mode is GenerationMode.POSITIVE:
                raise


@pytest.fixture
def counting_publisher(publisher: KafkaPublisher) -> CountingPublisher:
    return CountingPublisher(publisher)


@pytest.fixture
def apps(
    engine: Engine, kafka_settings: KafkaSettings, topics: Topics, counting_publisher: CountingPublisher
) -> Iterator[dict[str, FastAPI]]:
    built = build_apps(engine, counting_publisher, kafka=kafka_settings)  # type: ignore[arg-type]
    with ExitStack() as stack:
        for app in built.values():
            stack.enter_context(TestClient(app))  # runs each lifespan (crm-sync opens its database there)
        yield built


def test_fuzzing_every_spec_in_production_mode_finds_no_5xx_and_no_publish_on_refusal(
    apps: dict[str, FastAPI],
    counting_publisher: CountingPublisher,
    kafka_settings: KafkaSettings,
    topics: Topics,
    database_url: str,
) -> None:
    started = time.monotonic()
    fuzz = FuzzPass(counting_publisher)
    for service, app in apps.items():
        fuzz.run(service, app)
    elapsed = time.monotonic() - started
    write_report(database_url.split(":", 1)[0].split("+", 1)[0], fuzz.statuses, elapsed)

    assert not fuzz.broken, "\n".join(fuzz.broken)
    assert all(sum(table.values()) for table in fuzz.statuses.values()), fuzz.statuses
    per_topic = Counter(record.topic for record in counting_publisher.published)
    on_topics = {topic: len(read_topic(kafka_settings, topic, expect=n, grace_s=0.5)) for topic, n in per_topic.items()}
    assert on_topics == dict(per_topic), "the broker's topics disagree with the counted publisher"


def write_report(database: str, statuses: dict[str, Counter[int]], elapsed: float) -> None:
    """var/bench/fuzz.json: per database, the request count and status → count per app."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    report[database] = {
        "examples_per_operation_credential_and_mode": EXAMPLES,
        "requests": sum(sum(t.values()) for t in statuses.values()),
        "seconds": round(elapsed, 1),
        "statuses": {app: {str(s): n for s, n in sorted(t.items())} for app, t in statuses.items()},
    }
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"fuzz pass ({database}): {json.dumps(report[database])}")


@pytest.mark.parametrize("version", [2**31, 2**63, 10**30])
def test_a_model_version_beyond_the_column_is_422_not_a_database_error(engine: Engine, version: int) -> None:
    """Found by the fuzz pass: ``/v1/models/10000000000`` reached PostgreSQL's int4 column (500, DataError), and
    2**63 overflowed SQLite's driver. The path parameter is bounded like the column instead."""
    app = build_apps(engine, RecordingPublisher())["scoring"]
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get(f"/v1/models/{version}", headers=BEARER).status_code == 422
        assert client.post(f"/v1/models/{version}/promote", headers=BEARER).status_code == 422
        assert client.get(f"/v1/models/{2**31 - 1}", headers=BEARER).status_code == 404  # the largest that fits


@pytest.mark.parametrize(
    ("service", "method", "url"),
    [
        ("scoring", "GET", "/v1/rulesets?name=a%00b"),
        ("scoring", "POST", "/v1/rulesets/rollback?name=%00"),
        ("scoring", "GET", "/v1/leads/a%00b/ledger"),
        ("crm", "GET", "/v1/crm/leads/a%00b"),
    ],
    ids=["ruleset-name", "rollback-name", "ledger-person-key", "crm-person-key"],
)
def test_a_nul_in_the_url_is_400_not_a_database_error(engine: Engine, service: str, method: str, url: str) -> None:
    """Found by the fuzz pass: ``?name=%00`` reached PostgreSQL, which cannot store or compare U+0000 in text
    (500, DataError). No URL parameter may carry one: the apps refuse it before any route reads it."""
    app = build_apps(engine, RecordingPublisher())[service]
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.request(method, url, headers=BEARER)
        assert answer.status_code == 400, answer.text[:200]
        assert "\x00" not in answer.text


@pytest.mark.parametrize("field", ["id", "person_key", "reason", "email"])
def test_an_outcome_carrying_a_nul_is_422_not_a_500(engine: Engine, field: str) -> None:
    """Found by the fuzz pass: ``POST /v1/outcomes`` let a NUL through its own model, then building the
    ``Outcome`` contract (which refuses one, as PostgreSQL would) raised inside the handler: a 500."""
    outcome = {"id": "o-1", "person_key": "pk-1", "kind": "won", "occurred_at": "2026-01-05T10:00:00Z"}
    outcome[field] = "a\x00b" if field != "email" else "ada\x00@example.com"
    app = build_apps(engine, RecordingPublisher())["scoring"]
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post("/v1/outcomes", json={"outcomes": [outcome]}, headers=BEARER)
        assert answer.status_code == 422, answer.text[:300]
        assert answer.json()["detail"][0]["loc"][-1] == field
