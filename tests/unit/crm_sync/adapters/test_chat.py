"""The Slack and Teams webhook poster against the fake webhooks (real HTTP), and the alert settings."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from peerscore.crm_sync.adapters.chat import ChatWebhooks
from peerscore.crm_sync.alert_settings import AlertSettings
from peerscore.crm_sync.domain.alerts import slack_message, teams_message, view
from peerscore.settings import RuntimeSettings
from peerscore_testkit.fake_chat import SLACK_PATH, TEAMS_PATH, chat_server, messages
from peerscore_testkit.fake_servers import FakeServer, Fault
from tests.unit.crm_sync.factories import transition

SLACK_BODY = json.dumps(slack_message(view(transition(), "https://c.example")))
TEAMS_BODY = json.dumps(teams_message(view(transition(), "https://c.example")))


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with chat_server() as s:
        yield s


@pytest.fixture
def webhooks(server: FakeServer) -> Iterator[ChatWebhooks]:
    urls = {"slack": server.url + SLACK_PATH, "teams": server.url + TEAMS_PATH, "closed": "http://127.0.0.1:9/x"}
    with httpx.Client(timeout=1.0) as client:
        yield ChatWebhooks(client, urls.__getitem__)


def test_slack_and_teams_take_what_the_renderers_make(server: FakeServer, webhooks: ChatWebhooks) -> None:
    assert webhooks.post("slack", "slack", "p_1", 1, SLACK_BODY).outcome == "ok"
    assert webhooks.post("teams", "teams", "p_1", 1, TEAMS_BODY).outcome == "ok"
    assert len(messages(server)) == 1 and len(messages(server, TEAMS_PATH)) == 1


def test_429_is_throttled_with_the_retry_after_it_named(server: FakeServer, webhooks: ChatWebhooks) -> None:
    server.state.faults.append(Fault(429, {"Retry-After": "7"}, b"rate_limited"))
    result = webhooks.post("slack", "slack", "p_1", 1, SLACK_BODY)
    assert (result.outcome, result.throttled, result.retry_after) == ("retryable", True, 7.0)
    server.state.faults.append(Fault(429, body=b"rate_limited"))
    assert webhooks.post("slack", "slack", "p_1", 1, SLACK_BODY).retry_after == 1.0  # none named: a second


def test_legacy_teams_throttling_in_a_200_is_throttling(server: FakeServer, webhooks: ChatWebhooks) -> None:
    server.state.faults.append(Fault(200, body=b"Microsoft Teams endpoint returned HTTP error 429 with ContextId x"))
    result = webhooks.post("teams", "teams", "p_1", 1, TEAMS_BODY)
    assert result.outcome == "retryable" and result.throttled


def test_5xx_and_no_answer_are_transient(server: FakeServer, webhooks: ChatWebhooks) -> None:
    server.state.faults.append(Fault(503, {"Retry-After": "3"}, b"down"))
    result = webhooks.post("slack", "slack", "p_1", 1, SLACK_BODY)
    assert (result.outcome, result.throttled, result.retry_after) == ("retryable", False, 3.0)
    closed = webhooks.post("closed", "slack", "p_1", 1, SLACK_BODY)
    assert closed.outcome == "retryable" and closed.message == "slack unreachable: ConnectError"


def test_a_4xx_is_permanent_with_the_destinations_reason(server: FakeServer, webhooks: ChatWebhooks) -> None:
    result = webhooks.post("slack", "slack", "p_1", 1, json.dumps({"blocks": [{"type": "bogus"}]}))
    assert (result.outcome, result.message) == ("permanent", "slack 400: invalid_blocks")
    assert webhooks.post("teams", "teams", "p_1", 1, SLACK_BODY).message == "teams 400: Bad payload"
    server.state.faults.append(Fault(410, body=b"channel_is_archived"))
    assert webhooks.post("slack", "slack", "p_1", 1, SLACK_BODY).outcome == "permanent"
    assert "slacksecret" not in str(result.message)  # the URL is the credential


DESTINATIONS = (
    '[{"name": "sales", "kind": "slack", "url": "https://hooks.slack.com/services/T/B/x",'
    ' "territories": ["DE"]}, {"name": "emea", "kind": "teams", "url": "changeme"}]'
)


def test_destinations_come_from_json_and_placeholders_are_refused_outside_dev(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALERTS_DESTINATIONS", DESTINATIONS)
    settings = AlertSettings()
    assert [d.name for d in settings.routes] == ["sales", "emea"]
    assert settings.routes[0].route.territories == frozenset({"de"})
    assert "hooks.slack.com" not in repr(settings)  # a SecretStr
    assert settings.url("sales") == "https://hooks.slack.com/services/T/B/x"
    assert settings.group("peerscore-crm-sync") == "peerscore-crm-sync-alerts"
    settings.check(RuntimeSettings(env="dev"))
    with pytest.raises(ValueError, match="placeholder"):
        settings.check(RuntimeSettings(env="prod"))


def test_plain_http_and_shared_names_are_refused() -> None:
    hook = {"name": "a", "kind": "slack", "url": "http://hooks.example/x"}
    with pytest.raises(ValueError, match="https"):
        AlertSettings(destinations=[hook]).check(RuntimeSettings(env="prod"))
    with pytest.raises(ValueError, match="share a name"):
        AlertSettings(destinations=[hook, hook])
