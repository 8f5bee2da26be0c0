"""schemathesis against the ingest app's own OpenAPI schema, in-process (ASGI), with a recording publisher.

Generated requests (valid by the schema, and with the write key) must never get a 5xx, and every answer must
be one the schema documents, in the documented shape. ``positive_data_acceptance`` is left out on purpose:
the schema cannot express every rule (an event name needs a letter, ``sentAt`` and ``timestamp`` must be
correctable, nesting is bounded…), and a schema-valid call refused with 400 and its field path is correct.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.specs.openapi.checks import positive_data_acceptance

from peerscore.ingest.app import create_app
from peerscore.ingest.settings import IngestConfig
from peerscore.settings import IdentitySettings, KafkaSettings, RuntimeSettings
from tests.unit.ingest.support import SECRET, WRITE_KEY, RecordingPublisher, basic, make_settings


@pytest.fixture(scope="module")
def ingest_app() -> Iterator[FastAPI]:
    yield create_app(
        IngestConfig(
            make_settings(max_import_bytes=64 * 1024),
            IdentitySettings(person_key_secret=SecretStr(SECRET.decode())),
            RuntimeSettings(env="dev"),
            KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="contract"),
        ),
        publisher=RecordingPublisher(),
    )


def test_every_documented_endpoint_answers_within_its_contract(ingest_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", ingest_app).include(path_regex=r"^/v1/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/batch", "/v1/track", "/v1/import/csv"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def answers_within_contract(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=basic(WRITE_KEY), excluded_checks=[positive_data_acceptance])
            assert response.status_code < 500

        answers_within_contract()


def test_the_schema_documents_bodies_and_answers(ingest_app: FastAPI) -> None:
    spec = ingest_app.openapi()
    batch = spec["paths"]["/v1/batch"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"]["required"] == ["batch"]
    assert {"200", "400", "401", "413", "415", "503"} <= set(batch["responses"])
    assert "/v1/import/csv" in spec["paths"]
