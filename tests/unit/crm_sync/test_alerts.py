"""The MQL alert handler on a real database (SQLite, and PostgreSQL with ``TEST_DATABASE_URL``) against the fake
Slack and Teams webhooks over HTTP: one message per destination and transition, whatever is redelivered; 429
waits for Retry-After, 5xx backs off until the budget is spent, a 4xx is dead-lettered with its reason, and one
failing destination never holds the others."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.crm_sync import alert_ledger
from peerscore.crm_sync.adapters.base import SyncResult
from peerscore.crm_sync.adapters.chat import ChatWebhooks
from peerscore.crm_sync.alert_models import AlertLedger
from peerscore.crm_sync.alerts import AlertDeadLetters, AlertHandler, AlertPolicy, AlertPoster
from peerscore.crm_sync.budget import RetryBudget
from peerscore.crm_sync.dead_letters import AlertDeadLetter
from peerscore.crm_sync.domain.alerts import Destination, route
from peerscore.crm_sync.metrics import AlertMetrics
from peerscore.crm_sync.privacy import erase
from peerscore.events import ErasureRequest
from peerscore_testkit.fake_chat import SLACK_PATH, TEAMS_PATH, chat_server, messages
from peerscore_testkit.fake_servers import FakeServer, Fault
from tests.unit.crm_sync.factories import BASE_TIME, batch, transition
from tests.unit.crm_sync.recording import RecordingPublisher

SLACK = Destination("sales", "slack")
TEAMS = Destination("emea", "teams", route(territories=["DE"]))


class Clock:
    def __init__(self) -> None:
        self.now = BASE_TIME + timedelta(minutes=30)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with chat_server() as s:
        yield s


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as c:
        yield c


def handler(
    engine: Engine,
    server: FakeServer,
    client: httpx.Client,
    clock: Clock,
    publisher: RecordingPublisher | None = None,
    down: str | None = None,
) -> tuple[AlertHandler, CollectorRegistry]:
    urls = {"sales": server.url + SLACK_PATH, "emea": server.url + TEAMS_PATH, "gone": server.url + "/nowhere"}
    registry = CollectorRegistry()
    policy = AlertPolicy(
        destinations=[SLACK, TEAMS, Destination("gone", "slack", route(domains=["gone.example"]))],
        console_base_url="https://console.example.com",
        budget=RetryBudget(max_elapsed_s=600.0, backoff_max_s=60.0),
    )
    sink = AlertDeadLetters(publisher, "alerts.dlq") if publisher is not None else None
    poster: AlertPoster = ChatWebhooks(client, urls.__getitem__)
    if down is not None:
        poster = _Failing(poster, down)
    return AlertHandler(engine, poster, AlertMetrics(registry), policy, sink, clock), registry


def rows(engine: Engine) -> list[AlertLedger]:
    with Session(engine) as session:
        return list(session.exec(select(AlertLedger).order_by(AlertLedger.destination)).all())


def sample(registry: CollectorRegistry, kind: str, result: str) -> float:
    return registry.get_sample_value("peerscore_alerts_total", {"kind": kind, "result": result}) or 0.0


def test_an_mql_reaches_slack_once_with_its_reasons_however_often_it_is_read(
    crm_engine: Engine, server: FakeServer, client: httpx.Client
) -> None:
    alerts, registry = handler(crm_engine, server, client, Clock())
    mql = transition("p_1", 3, country="US")
    alerts.handle(batch(mql))
    alerts.handle(batch(mql, transition("p_1", 4, kind="updated"), transition("p_2", 2, kind="recycled")))
    alerts.on_idle()
    sent = messages(server)
    assert len(sent) == 1 and messages(server, TEAMS_PATH) == []  # not in the Teams destination's territory
    assert "Visited pricing 3 times" in json.dumps(sent[0])
    assert [(r.destination, r.status, r.message) for r in rows(crm_engine)] == [("sales", "sent", None)]
    assert sample(registry, "slack", "sent") == 1


def test_a_requalified_lead_is_a_new_mql_and_alerted_again(
    crm_engine: Engine, server: FakeServer, client: httpx.Client
) -> None:
    alerts, _ = handler(crm_engine, server, client, Clock())
    alerts.handle(batch(transition("p_1", 3), transition("p_1", 9)))
    assert len(messages(server)) == 2


def test_a_restarted_handler_posts_what_was_recorded_and_never_what_was_sent(
    crm_engine: Engine, server: FakeServer, client: httpx.Client
) -> None:
    first, _ = handler(crm_engine, server, client, Clock())
    first.intake([transition("p_1", 1, country="DE"), transition("p_2", 1)])  # killed before delivering
    assert messages(server) == []
    second, _ = handler(crm_engine, server, client, Clock())
    second.handle(batch(transition("p_1", 1, country="DE")))  # the batch is redelivered after the restart
    second.on_idle()
    assert len(messages(server)) == 2 and len(messages(server, TEAMS_PATH)) == 1
    assert {r.status for r in rows(crm_engine)} == {"sent"}


def test_429_waits_for_retry_after_and_is_not_charged(
    crm_engine: Engine, server: FakeServer, client: httpx.Client
) -> None:
    clock = Clock()
    alerts, registry = handler(crm_engine, server, client, clock)
    server.state.faults.append(Fault(429, {"Retry-After": "30"}, b"rate_limited"))
    alerts.handle(batch(transition("p_1", 1)))
    [row] = rows(crm_engine)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, clock.now + timedelta(seconds=30))
    clock.now += timedelta(seconds=29)
    alerts.on_idle()
    assert messages(server) == []
    clock.now += timedelta(seconds=1)
    alerts.on_idle()
    assert len(messages(server)) == 1 and sample(registry, "slack", "throttled") == 1


def test_a_4xx_is_dead_lettered_at_once_with_the_destinations_reason(
    crm_engine: Engine, server: FakeServer, client: httpx.Client
) -> None:
    publisher = RecordingPublisher()
    alerts, registry = handler(crm_engine, server, client, Clock(), publisher)
    server.state.faults.append(Fault(400, body=b"invalid_payload"))
    alerts.handle(batch(transition("p_1", 1), transition("p_9", 1, domain="gone.example")))
    by_destination = {r.destination: r for r in rows(crm_engine) if r.person_key == "p_1" or r.destination == "gone"}
    assert by_destination["sales"].status == "dlq" and "slack 400: invalid_payload" in str(
        by_destination["sales"].last_error
    )
    assert by_destination["gone"].status == "dlq" and "404: no_service" in str(by_destination["gone"].last_error)
    letters = [AlertDeadLetter.model_validate_json(r.value) for r in publisher.records]
    assert {(d.destination, d.person_key) for d in letters} == {("sales", "p_1"), ("gone", "p_9")}
    assert {r.key for r in publisher.records} == {"p_1", "p_9"}  # person keys (hashes), never an email
    assert letters[0].message["blocks"] and sample(registry, "slack", "dead_lettered") == 2
    assert len(messages(server)) == 1  # p_9 also went to the catch-all destination, which took it


def test_5xx_backs_off_then_sends_and_a_spent_budget_dead_letters(
    crm_engine: Engine, server: FakeServer, client: httpx.Client
) -> None:
    clock = Clock()
    publisher = RecordingPublisher()
    alerts, _ = handler(crm_engine, server, client, clock, publisher)
    server.state.faults.extend([Fault(500), Fault(503)])
    alerts.handle(batch(transition("p_1", 1)))
    assert rows(crm_engine)[0].next_attempt_at == clock.now + timedelta(seconds=1)
    clock.now += timedelta(seconds=1)
    alerts.on_idle()
    assert rows(crm_engine)[0].attempts == 2 and rows(crm_engine)[0].next_attempt_at == clock.now + timedelta(seconds=2)
    clock.now += timedelta(seconds=2)
    alerts.on_idle()
    assert len(messages(server)) == 1 and rows(crm_engine)[0].status == "sent"

    server.state.refuse = lambda: Fault(502)
    alerts.handle(batch(transition("p_2", 1)))
    for _ in range(30):
        clock.now += timedelta(seconds=60)
        alerts.on_idle()
    [late] = [r for r in rows(crm_engine) if r.person_key == "p_2"]
    assert late.status == "dlq" and "retry budget spent: slack 502" in str(late.last_error)
    assert len(publisher.records) == 1


def test_one_failing_destination_never_holds_the_others(
    crm_engine: Engine, server: FakeServer, client: httpx.Client
) -> None:
    clock = Clock()
    alerts, _ = handler(crm_engine, server, client, clock, down="emea")  # Teams refuses connections
    for i in range(6):
        clock.now += timedelta(seconds=10)
        alerts.handle(batch(transition(f"p_{i}", 1, country="DE")))
    assert len(messages(server)) == 6  # Slack kept going while Teams failed (and its breaker opened)
    teams = [r for r in rows(crm_engine) if r.destination == "emea"]
    assert len(teams) == 6 and {r.status for r in teams} == {"pending"}
    assert sum(r.attempts for r in teams) < 6 + 3  # the open breaker spared the webhook calls


class _Failing:
    """The real poster, except that one destination is down (connection refused)."""

    def __init__(self, inner: AlertPoster, down: str) -> None:
        self._inner, self._down = inner, down

    def post(self, destination: str, kind: str, person_key: str, version: int, message: str) -> SyncResult:
        if destination == self._down:
            return SyncResult(person_key, version, "retryable", f"{kind} unreachable: ConnectError")
        return self._inner.post(destination, kind, person_key, version, message)


def test_erasure_deletes_the_persons_alerts(crm_engine: Engine, server: FakeServer, client: httpx.Client) -> None:
    alerts, _ = handler(crm_engine, server, client, Clock())
    alerts.intake([transition("p_1", 1)])
    request = ErasureRequest(request_id="r1", person_key="p_1", requested_at=BASE_TIME, erased_at=BASE_TIME)
    with Session(crm_engine) as session, session.begin():
        assert erase(session, request)["crm_alert_ledger"] == 1
    with Session(crm_engine) as session:
        assert alert_ledger.counts(session) == {}


class _Crash(BaseException):
    """The process dies (SIGKILL) right after the webhook answered, before ``sent`` is committed."""


class _PostThenCrash:
    def __init__(self, inner: AlertPoster) -> None:
        self._inner = inner

    def post(self, destination: str, kind: str, person_key: str, version: int, message: str) -> SyncResult:
        self._inner.post(destination, kind, person_key, version, message)
        raise _Crash


def test_the_at_least_once_window_is_the_one_post_in_flight(
    crm_engine: Engine, server: FakeServer, client: httpx.Client
) -> None:
    """What a crash between the destination's 2xx and the commit costs: that one alert again, nothing more."""
    alerts, _ = handler(crm_engine, server, client, Clock())
    alerts.intake([transition(f"p_{i}", 1) for i in range(3)])
    assert alerts.flush() == 3
    alerts.intake([transition(f"p_{i}", 1) for i in range(3, 6)])
    crashing = AlertHandler(
        crm_engine,
        _PostThenCrash(ChatWebhooks(client, lambda _: server.url + SLACK_PATH)),
        AlertMetrics(CollectorRegistry()),
        AlertPolicy([SLACK]),
        clock=Clock(),
    )
    with pytest.raises(_Crash):
        crashing.flush()
    restarted, _ = handler(crm_engine, server, client, Clock())
    assert restarted.flush() == 3
    assert Counter(m["blocks"][-1]["elements"][0]["url"][-3:] for m in messages(server)) == Counter(
        {"p_0": 1, "p_1": 1, "p_2": 1, "p_3": 2, "p_4": 1, "p_5": 1}
    )
