"""``create_app`` builds no engine and does no I/O; the lifespan opens the engine (unless one is injected), puts
it where routes read it, and disposes only the engine it created."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from peerscore.db import make_engine
from peerscore.scoring.app import ScoringConfig, create_app
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import ApiAuthSettings, DatabaseSettings, KafkaSettings, RuntimeSettings

TOKEN = "unit-test-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def config(database_url: str = "sqlite://") -> ScoringConfig:
    return ScoringConfig(
        runtime=RuntimeSettings(env="dev"),
        kafka=KafkaSettings(topic_prefix="unit"),
        database=DatabaseSettings(database_url=database_url),
        scoring=ScoringSettings(),
        auth=ApiAuthSettings(api_token=SecretStr(TOKEN)),
    )


def no_engine(*args: Any, **kwargs: Any) -> Engine:
    raise AssertionError("create_app must not build an engine")


def test_create_app_builds_no_engine() -> None:
    with mock.patch("peerscore.scoring.app.make_engine", no_engine):
        app = create_app(config(), start_consumers=False)
        assert app.openapi()["paths"], "the routes are all there without a database"
    assert getattr(app.state, "engine", None) is None


def test_the_lifespan_opens_the_engine_and_disposes_only_its_own(tmp_path: Path) -> None:
    created: list[Engine] = []

    def make_own(url: str, *, echo: bool = False) -> Engine:
        engine = make_engine(url, echo=echo)
        created.append(engine)
        return engine

    injected = make_engine(f"sqlite:///{tmp_path / 'injected.db'}")
    with (
        mock.patch("peerscore.scoring.app.make_engine", make_own),
        mock.patch.object(Engine, "dispose", autospec=True, side_effect=Engine.dispose) as dispose,
    ):
        owned_app = create_app(config(f"sqlite:///{tmp_path / 'owned.db'}"), start_consumers=False)
        given_app = create_app(config(), engine=injected, start_consumers=False)
        assert not created
        for app in (owned_app, given_app):
            with TestClient(app) as client:
                assert client.get("/v1/rulesets", headers=AUTH).status_code == 200  # reads app.state.engine
                assert client.get("/console/rules", headers=AUTH).status_code == 200
            assert app.state.engine is None, "after shutdown nothing serves on a closed engine"
        assert len(created) == 1 and str(created[0].url).endswith("owned.db")
        disposed = [call.args[0] for call in dispose.call_args_list]
        assert created[0] in disposed, "the engine the lifespan created is disposed"
        assert injected not in disposed, "an injected engine stays the caller's"
    injected.dispose()
