"""The ruleset HTTP API on SQLite with a recording publisher: no broker (``start_consumer=False``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from kafka.errors import KafkaTimeoutError
from pydantic import SecretStr

from peerscore.scoring.app import ScoringConfig, create_app
from peerscore.scoring.domain import load_default_ruleset, parse_ruleset
from peerscore.scoring.rulesets.messages import RulesetPublished
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import ApiAuthSettings, DatabaseSettings, KafkaSettings, RuntimeSettings

from .support import BROKEN, RecordingPublisher, line_of, sqlite_engine, variant

TOKEN = "unit-test-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
YAML = {**AUTH, "Content-Type": "application/yaml"}
KAFKA = KafkaSettings(topic_prefix="unit")


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def client(tmp_path: Path, publisher: RecordingPublisher) -> Iterator[TestClient]:
    engine = sqlite_engine(tmp_path)
    config = ScoringConfig(
        runtime=RuntimeSettings(env="dev"),
        kafka=KAFKA,
        database=DatabaseSettings(),
        scoring=ScoringSettings(ruleset_name="test"),
        auth=ApiAuthSettings(api_token=SecretStr(TOKEN)),
    )
    app = create_app(config, engine=engine, publisher=publisher, start_consumer=False)
    with TestClient(app) as c:
        yield c
    engine.dispose()


def draft(client: TestClient, text: str) -> str:
    response = client.post("/v1/rulesets", content=text, headers=YAML)
    assert response.status_code == 201, response.text
    return str(response.json()["version"])


def test_a_yaml_draft_is_created_once(client: TestClient) -> None:
    response = client.post("/v1/rulesets", content=variant("a"), headers=YAML)
    assert response.status_code == 201
    body = response.json()
    assert (body["version"], body["name"], body["status"]) == (parse_ruleset(variant("a")).version, "test", "draft")
    again = client.post("/v1/rulesets", json={"yaml": variant("a")}, headers=AUTH)
    assert again.status_code == 200 and again.json()["version"] == body["version"]


def test_an_invalid_ruleset_is_refused_with_lines_paths_and_messages(client: TestClient) -> None:
    response = client.post("/v1/rulesets", content=BROKEN, headers=YAML)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"line": line_of(BROKEN, "points: lots"), "path": "rules[0].points"} in [
        {"line": e["line"], "path": e["path"]} for e in errors
    ]
    assert all(set(e) == {"line", "path", "message"} and e["message"] for e in errors)
    assert client.get("/v1/rulesets", headers=AUTH).json() == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"content": b"name: x", "headers": {**AUTH, "Content-Type": "image/png"}}, 415),
        ({"content": b"\xff\xfe", "headers": YAML}, 400),
        ({"json": {"text": "name: x"}, "headers": AUTH}, 400),
        ({"content": b"#" * (1024 * 1024 + 1), "headers": YAML}, 413),
        ({"content": variant("a"), "headers": {"Content-Type": "application/yaml"}}, 401),
    ],
)
def test_bodies_that_are_not_a_ruleset_and_missing_tokens_are_refused(
    client: TestClient, kwargs: dict[str, object], code: int
) -> None:
    assert client.post("/v1/rulesets", **kwargs).status_code == code  # type: ignore[arg-type]


def test_a_version_shows_its_text_summary_and_diff(client: TestClient) -> None:
    a = draft(client, variant("a"))
    b = draft(client, variant("a").replace("points: 40", "points: 55"))
    detail = client.get(f"/v1/rulesets/{a}", headers=AUTH).json()
    assert detail["yaml"] == variant("a") and detail["summary"]["groups"]["engagement"]["rules"][1] == "demo"
    diff = client.get(f"/v1/rulesets/{a}/diff/{b}", headers=AUTH).json()
    assert (diff["from_version"], diff["to_version"]) == (a, b)
    assert "-    points: 40\n+    points: 55\n" in diff["diff"]
    assert client.get("/v1/rulesets/0123456789ab", headers=AUTH).status_code == 404
    assert client.get(f"/v1/rulesets/{a}/diff/0123456789ab", headers=AUTH).status_code == 404


def test_publish_announces_and_this_worker_switches_at_once(client: TestClient, publisher: RecordingPublisher) -> None:
    live = client.get("/v1/rulesets/live", headers=AUTH).json()
    assert (live["version"], live["serving"]) == (None, load_default_ruleset().version)
    a = draft(client, variant("a"))
    response = client.post(f"/v1/rulesets/{a}/publish", headers=AUTH)
    assert response.status_code == 200 and response.json()["status"] == "published"
    [sent] = publisher.records
    message = RulesetPublished.model_validate_json(sent.value)
    assert (sent.topic, sent.key, message.version, message.yaml) == (KAFKA.topics().rules, "test", a, variant("a"))
    assert message.published_at.tzinfo is not None
    live = client.get("/v1/rulesets/live", headers=AUTH).json()
    assert (live["version"], live["serving"]) == (a, a)


def test_rollback_returns_to_the_previous_version_and_announces_it(
    client: TestClient, publisher: RecordingPublisher
) -> None:
    assert client.post("/v1/rulesets/rollback", headers=AUTH).status_code == 409
    a, b = draft(client, variant("a")), draft(client, variant("b"))
    for version in (a, b):
        client.post(f"/v1/rulesets/{version}/publish", headers=AUTH).raise_for_status()
    response = client.post("/v1/rulesets/rollback", headers=AUTH)
    assert response.status_code == 200 and response.json()["version"] == a
    assert [RulesetPublished.model_validate_json(r.value).version for r in publisher.records] == [a, b, a]
    assert client.get("/v1/rulesets/live", headers=AUTH).json()["serving"] == a
    listed = {r["version"]: r["status"] for r in client.get("/v1/rulesets", headers=AUTH).json()}
    assert listed == {a: "published", b: "retired"}


def test_a_failed_announcement_is_503_and_retrying_the_publish_announces_it(
    client: TestClient, publisher: RecordingPublisher
) -> None:
    a = draft(client, variant("a"))
    publisher.fail = KafkaTimeoutError("broker away")
    response = client.post(f"/v1/rulesets/{a}/publish", headers=AUTH)
    assert response.status_code == 503 and f"/v1/rulesets/{a}/publish" in response.json()["detail"]
    publisher.fail = None
    assert client.post(f"/v1/rulesets/{a}/publish", headers=AUTH).status_code == 200
    assert [RulesetPublished.model_validate_json(r.value).version for r in publisher.records] == [a]
    assert client.get("/v1/rulesets/live", headers=AUTH).json()["serving"] == a
