from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from peerscore.api import bearer_auth
from peerscore.settings import ApiAuthSettings, IdentitySettings, RuntimeSettings


def test_placeholder_secrets_are_refused_outside_dev() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        IdentitySettings(person_key_secret=SecretStr("peerscore-dev")).check(RuntimeSettings(env="prod"))
    IdentitySettings(person_key_secret=SecretStr("peerscore-dev")).check(RuntimeSettings(env="dev"))
    IdentitySettings(person_key_secret=SecretStr("a-real-long-secret")).check(RuntimeSettings(env="prod"))


def test_secrets_do_not_show_in_reprs() -> None:
    assert "hunter2-secret" not in repr(ApiAuthSettings(api_token=SecretStr("hunter2-secret")))


def _client(token: str, env: str) -> TestClient:
    app = FastAPI()
    auth = bearer_auth(ApiAuthSettings(api_token=SecretStr(token)), RuntimeSettings(env=env))  # type: ignore[arg-type]

    @app.get("/private", dependencies=[Depends(auth)])
    def private() -> dict[str, bool]:
        return {"ok": True}

    return TestClient(app)


def test_bearer_token_required_when_configured() -> None:
    client = _client("s3cr3t-token", "prod")
    assert client.get("/private").status_code == 401
    assert client.get("/private", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/private", headers={"Authorization": "Bearer s3cr3t-token"}).status_code == 200


def test_open_only_in_dev() -> None:
    assert _client("", "dev").get("/private").status_code == 200
    with pytest.raises(ValueError, match="PEERSCORE_API_TOKEN"):
        _client("", "prod")
