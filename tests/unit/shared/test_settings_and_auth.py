from __future__ import annotations

import pytest
import structlog
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from peerscore.api import api_access, bearer_auth
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


def _two_token_client(auth: ApiAuthSettings) -> TestClient:
    app = FastAPI()
    access = api_access(auth, RuntimeSettings(env="prod"))

    @app.get("/read", dependencies=[Depends(access.read)])
    def read() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/admin", dependencies=[Depends(access.admin)])
    def admin() -> dict[str, bool]:
        return {"ok": True}

    return TestClient(app)


def test_read_token_reads_and_is_refused_403_on_admin_routes() -> None:
    client = _two_token_client(
        ApiAuthSettings(read_token=SecretStr("read-token-4f2a9c"), admin_token=SecretStr("admin-token-8e1b3d"))
    )
    read, admin = {"Authorization": "Bearer read-token-4f2a9c"}, {"Authorization": "Bearer admin-token-8e1b3d"}
    assert client.get("/read", headers=read).status_code == 200
    assert client.post("/admin", headers=read).status_code == 403
    assert client.get("/read", headers=admin).status_code == 200
    assert client.post("/admin", headers=admin).status_code == 200
    assert client.post("/admin").status_code == 401
    assert client.get("/read", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_the_deprecated_single_token_acts_as_admin_and_says_so() -> None:
    with structlog.testing.capture_logs() as logs:
        client = _two_token_client(ApiAuthSettings(api_token=SecretStr("legacy-token-6c0d2e")))
    assert any(e["event"] == "deprecated_api_token" and e["log_level"] == "warning" for e in logs)
    legacy = {"Authorization": "Bearer legacy-token-6c0d2e"}
    assert client.post("/admin", headers=legacy).status_code == 200
    assert client.get("/read", headers=legacy).status_code == 200


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            ApiAuthSettings(read_token=SecretStr("same-token-1a2b3c"), admin_token=SecretStr("same-token-1a2b3c")),
            "READ",
        ),
        (ApiAuthSettings(admin_token=SecretStr("admin-1a2b3c4d"), api_token=SecretStr("other-5e6f7a8b")), "differ"),
        (ApiAuthSettings(read_token=SecretStr("read-only-1a2b3c")), "ADMIN_TOKEN"),
        (ApiAuthSettings(admin_token=SecretStr("changeme")), "placeholder"),
    ],
    ids=["read-equals-admin", "legacy-differs", "no-admin-outside-dev", "placeholder"],
)
def test_token_settings_that_would_blur_the_two_roles_stop_start_up(settings: ApiAuthSettings, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        api_access(settings, RuntimeSettings(env="prod"))
