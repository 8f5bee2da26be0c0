"""Publishing rulesets on the real broker: every worker switches within seconds, under traffic, and back.

The scoring app runs with its consumer loop and ruleset watcher (``start_consumers=True``); a second
``LiveRuleset`` stands in for another worker process reading the same rules topic.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from importlib.resources import files

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from peerscore.events import EngagementEvent
from peerscore.kafka_io import KafkaPublisher, record
from peerscore.scoring.app import ScoringConfig, create_app
from peerscore.scoring.domain import load_default_ruleset, parse_ruleset
from peerscore.scoring.models import LedgerRow, OutboxRow, PersonRow
from peerscore.scoring.rulesets.watcher import LiveRuleset, make_rules_consumer
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import ApiAuthSettings, DatabaseSettings, KafkaSettings, RuntimeSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.support import END, applied_count, journey_events
from tests.processes import wait_until

pytestmark = pytest.mark.integration

TOKEN = "integration-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SWITCH_S = 10.0


def default_text() -> str:
    return files("peerscore.scoring.domain").joinpath("default_ruleset.yaml").read_text(encoding="utf-8")


def tuned(label: str) -> str:
    """The packaged ruleset with another description: same rules, a distinct content version."""
    text, count = re.subn(r"^description: (.*)$", rf"description: {label} \1", default_text(), count=1, flags=re.M)
    assert count == 1
    return text


def config(kafka_settings: KafkaSettings) -> ScoringConfig:
    return ScoringConfig(
        runtime=RuntimeSettings(env="dev"),
        kafka=kafka_settings,
        database=DatabaseSettings(),
        scoring=ScoringSettings(group_id=unique("scoring"), decay_sweep_interval_s=0, ruleset_poll_ms=200),
        auth=ApiAuthSettings(api_token=SecretStr(TOKEN)),
    )


@pytest.fixture
def other_worker(kafka_settings: KafkaSettings, topics: Topics) -> Iterator[LiveRuleset]:
    live = watcher(kafka_settings, topics)
    yield live
    live.stop()


def watcher(kafka_settings: KafkaSettings, topics: Topics) -> LiveRuleset:
    live = LiveRuleset(
        name="default",
        topic=topics.rules,
        fallback=load_default_ruleset,
        consumer_factory=lambda: make_rules_consumer(kafka_settings),
        poll_timeout_ms=200,
    )
    live.start()
    assert live.wait_ready(30), "the rules topic was not read"
    return live


def draft_and_publish(client: TestClient, text: str) -> str:
    created = client.post("/v1/rulesets", content=text, headers={**AUTH, "Content-Type": "application/yaml"})
    assert created.status_code == 201, created.text
    version = str(created.json()["version"])
    client.post(f"/v1/rulesets/{version}/publish", headers=AUTH).raise_for_status()
    return version


def serving(client: TestClient) -> str:
    return str(client.get("/v1/rulesets/live", headers=AUTH).json()["serving"])


def test_publish_reaches_another_worker_and_rollback_returns_everywhere(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, other_worker: LiveRuleset
) -> None:
    default = load_default_ruleset().version
    with TestClient(create_app(config(kafka_settings), engine=engine)) as client:
        # ready once the rules topic was read and the consumer's group join assigned its partitions
        wait_until(lambda: client.get("/readyz").status_code == 200, 30, "scoring to be ready")
        assert serving(client) == default and other_worker.current().version == default

        first = draft_and_publish(client, tuned("First"))
        assert first != default and serving(client) == first
        wait_until(lambda: other_worker.current().version == first, SWITCH_S, "the other worker to switch")

        second = draft_and_publish(client, tuned("Second"))
        wait_until(lambda: other_worker.current().version == second, SWITCH_S, "the other worker to switch again")

        back = client.post("/v1/rulesets/rollback", headers=AUTH)
        assert back.status_code == 200 and back.json()["version"] == first
        assert serving(client) == first
        assert client.get("/v1/rulesets/live", headers=AUTH).json()["version"] == first
        wait_until(lambda: other_worker.current().version == first, SWITCH_S, "the other worker to roll back")

    late_starter = watcher(kafka_settings, topics)
    try:
        assert late_starter.current().version == first, "a worker starting now reads the last announcement"
    finally:
        late_starter.stop()


def test_hot_reload_under_traffic_loses_nothing_and_later_scores_use_the_new_version(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine, publisher: KafkaPublisher
) -> None:
    events = journey_events(people=60, seed=7)
    half = len(events) // 2
    late = [
        e.model_copy(update={"event_id": f"{e.event_id}-late", "occurred_at": END + timedelta(hours=1)})
        for e in {e.person_key: e for e in events}.values()
    ]
    published = threading.Event()
    failures: list[BaseException] = []

    def stream(batch: list[EngagementEvent], chunk: int = 15) -> None:
        for i in range(0, len(batch), chunk):
            publisher.publish([record(topics.events, e.person_key, e) for e in batch[i : i + chunk]], wait=True)
            published.wait(0.05)

    def traffic() -> None:
        try:
            stream(events[:half])
            published.wait(60)  # the second half flows only once the new ruleset is announced
            stream(events[half:])
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)

    app_config = config(kafka_settings)
    group = app_config.scoring.group_id
    with TestClient(create_app(app_config, engine=engine)) as client:
        producer = threading.Thread(target=traffic, name="traffic")
        producer.start()
        try:
            wait_until(lambda: applied_count(engine, group) > 0, 60, "scoring to start")
            new = draft_and_publish(client, tuned("Tuned"))
        finally:
            published.set()
            producer.join(60)
        assert not failures and serving(client) == new
        stream(late)
        total = len(events) + len(late)
        wait_until(lambda: applied_count(engine, group) == total, 90, "every event to be applied")
        wait_until(lambda: outbox_size(engine) == 0, 30, "outputs to be published")

    with Session(engine) as session:
        versions = {p.person_key: p.version for p in session.exec(select(PersonRow)).all()}
        assert versions == Counter(e.person_key for e in [*events, *late]), "every event applied exactly once"
        stored = {p.person_key: (p.score or {}).get("ruleset_version") for p in session.exec(select(PersonRow)).all()}
        ledger = [r.ruleset_version for r in session.exec(select(LedgerRow).order_by(col(LedgerRow.id))).all()]
    old = parse_ruleset(default_text()).version
    assert set(stored.values()) == {new}, "every person's latest score comes from the published ruleset"
    assert ledger[0] == old and ledger[-1] == new, "the stream was scored by both rulesets"
    switch = ledger.index(new)
    assert set(ledger[switch:]) == {new}, "once switched, no batch went back to the old ruleset"


def outbox_size(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(OutboxRow)).one())
