"""The shared error vocabulary: one body shape, statuses fixed per error, and the database retry rule."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError, OperationalError

from peerscore.errors import Conflict, NotFound, Unauthorized, Unavailable, install_error_handlers
from peerscore.failures import DeterministicError, RetryableError, database_step, retryable


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/missing")
    def missing() -> None:
        raise NotFound("no ruleset version 7")

    @app.get("/conflict")
    def conflict() -> None:
        raise Conflict()

    @app.get("/down")
    def down() -> None:
        raise Unavailable("broker unavailable", retry_after=2.4)

    @app.get("/secret")
    def secret() -> None:
        raise Unauthorized("bearer token required")

    @app.get("/typed")
    def typed(n: int) -> int:
        return n

    return app


def test_errors_answer_with_their_status_a_code_and_the_detail() -> None:
    client = TestClient(_app())
    missing = client.get("/missing")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "no ruleset version 7"}
    assert client.get("/conflict").json() == {"error": "conflict", "detail": "conflict"}
    down = client.get("/down")
    assert (down.status_code, down.headers["retry-after"]) == (503, "2")
    secret = client.get("/secret")
    assert (secret.status_code, secret.headers["www-authenticate"]) == (401, "Bearer")


def test_framework_errors_share_the_shape_and_validation_keeps_its_field_paths() -> None:
    client = TestClient(_app())
    unknown = client.get("/nowhere")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    invalid = client.get("/typed", params={"n": "x"})
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == ["query", "n"]


def _db_error(kind: type[Exception]) -> Exception:
    return kind("INSERT ...", {}, Exception("boom"))


def test_one_retry_rule_for_database_errors() -> None:
    assert retryable(_db_error(OperationalError))
    assert not retryable(_db_error(DataError))
    assert retryable(RuntimeError("a bug unrelated to the data stalls loudly"))
    with pytest.raises(RetryableError, match="ledger unavailable"), database_step("ledger"):
        raise _db_error(OperationalError)
    with pytest.raises(DeterministicError, match="ledger refused"), database_step("ledger"):
        raise _db_error(DataError)
