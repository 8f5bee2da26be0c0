"""Backtest = live scoring on the same history: the real worker stores history, the backtest replays it."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from peerscore.scoring.app import ScoringConfig, create_app
from peerscore.scoring.backtest import Period, fold_history, run_backtest
from peerscore.scoring.domain import load_default_ruleset
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.models import PersonRow
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import ApiAuthSettings, DatabaseSettings, KafkaSettings, RuntimeSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.integration.scoring.support import journey_events
from tests.integration.scoring.test_scoring_worker import produce_events, run_scoring
from tests.unit.scoring.backtest.support import default_yaml, stricter

pytestmark = pytest.mark.integration
TOKEN = "backtest-token"


def scored_history(kafka_settings: KafkaSettings, topics: Topics, engine: Engine, people: int) -> int:
    events = journey_events(people=people, seed=17)
    produce_events(kafka_settings, topics.events, events)
    produce_events(kafka_settings, topics.events, events[:3])  # redelivered: duplicates, not history
    run_scoring(kafka_settings, engine, unique("scoring"), expect=len(events) + 3)
    return len(events)


def test_backtest_with_the_live_ruleset_reproduces_the_worker(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine
) -> None:
    applied = scored_history(kafka_settings, topics, engine, people=60)
    live = load_default_ruleset()
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(EventHistoryRow)).one() == applied
        stored = {r.person_key: (r.qualified, r.total, r.version) for r in session.exec(select(PersonRow)).all()}

    folded = fold_history(engine, Period(), live, live)

    replayed = {p.person_key: (p.before.qualified, p.before.total, p.events) for p in folded.people}
    assert replayed == stored
    assert {p.person_key: (p.after.qualified, p.after.total) for p in folded.people} == {
        k: (q, t) for k, (q, t, _) in stored.items()
    }
    assert any(q for q, _, _ in stored.values())


def test_stricter_candidate_gives_fewer_mqls_and_lists_the_changed_leads(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine
) -> None:
    scored_history(kafka_settings, topics, engine, people=60)
    with Session(engine) as session:
        qualified = {r.person_key for r in session.exec(select(PersonRow).where(PersonRow.qualified)).all()}

    report = run_backtest(engine, load_default_ruleset(), stricter(), Period())

    assert report.mqls_after < report.mqls_before
    dropped = {c.person_key for c in report.changes if c.before == "qualified" and c.after != "qualified"}
    assert dropped and dropped <= qualified
    assert all(c.email and c.reasons for c in report.changes)


def test_backtest_api_runs_in_the_background_and_can_be_cancelled(
    kafka_settings: KafkaSettings, topics: Topics, engine: Engine
) -> None:
    scored_history(kafka_settings, topics, engine, people=30)
    config = ScoringConfig(
        runtime=RuntimeSettings(env="prod"),  # type: ignore[arg-type]
        kafka=kafka_settings,
        database=DatabaseSettings(database_url=str(engine.url)),
        scoring=ScoringSettings(backtest_workers=1),
        auth=ApiAuthSettings(api_token=SecretStr(TOKEN)),
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = {"ruleset": default_yaml().replace("min_activity: 50", "min_activity: 150"), "since": "3650d"}
    with TestClient(create_app(config, engine=engine, start_consumers=False)) as api:
        assert api.post("/v1/backtests", json=body).status_code == 401
        bad = api.post("/v1/backtests", json={"ruleset": "name: x\ngroups: {}\n"}, headers=auth)
        assert bad.status_code == 422 and bad.json()["detail"]["ruleset"]

        job = api.post("/v1/backtests", json=body, headers=auth).json()
        deadline = time.monotonic() + 60
        view = job
        while view["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
            view = api.get(f"/v1/backtests/{job['id']}", headers=auth).json()
        assert view["status"] == "done", view
        assert view["report"]["mqls_after"] < view["report"]["mqls_before"]
        assert view["events_done"] == view["events_total"] == view["report"]["events"]

        cancelled = api.delete(f"/v1/backtests/{job['id']}", headers=auth)
        assert cancelled.status_code == 202
        assert api.get("/v1/backtests/unknown", headers=auth).status_code == 404
