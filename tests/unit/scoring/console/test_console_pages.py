"""The console's routes on a plain SQLite file with spec'd stand-ins for Kafka and the backtest runner: a draft
saved from the YAML editor, a long preview shown with its progress and cancelled, a publish that goes through
the ruleset API's own handler (announced, installed), and the dev-open banner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from unittest import mock

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.db import create_tables, make_engine
from peerscore.events import utcnow
from peerscore.kafka_io import KafkaPublisher
from peerscore.scoring.backtest.jobs import BacktestJobs, BacktestView
from peerscore.scoring.console.actions import RulesetActions
from peerscore.scoring.console.auth import ConsoleAuth
from peerscore.scoring.console.crm import CrmSyncClient
from peerscore.scoring.console.settings import ConsoleSettings
from peerscore.scoring.console.web import ConsoleDeps
from peerscore.scoring.console.wiring import console_router
from peerscore.scoring.domain import load_default_ruleset
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.predictive import model_registry
from peerscore.scoring.rulesets.ruleset_routes import rulesets_router
from peerscore.scoring.rulesets.watcher import LiveRuleset

DEFAULT = files("peerscore.scoring.domain").joinpath("default_ruleset.yaml").read_text(encoding="utf-8")
RUNNING = BacktestView(id="job1", status="running", started_at=utcnow(), events_done=500, events_total=2000)


class Console:
    def __init__(
        self, client: TestClient, jobs: mock.MagicMock, publisher: mock.MagicMock, live: LiveRuleset, engine: Engine
    ) -> None:
        self.client, self.jobs, self.publisher, self.live, self.engine = client, jobs, publisher, live, engine

    def csrf(self, path: str = "/console/rules/yaml") -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', self.client.get(path).text)
        assert match, "every page with a form carries the CSRF token"
        return match.group(1)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    engine = make_engine(f"sqlite:///{tmp_path / 'console.db'}")
    create_tables(engine, SCORING_TABLES)
    live = LiveRuleset(name="default", topic="t.rules", fallback=load_default_ruleset)
    publisher = mock.create_autospec(KafkaPublisher, instance=True, spec_set=True)
    rules_api = rulesets_router(publisher=publisher, topic="t.rules", live=live, name="default", auth=lambda: None)
    jobs = mock.create_autospec(BacktestJobs, instance=True, spec_set=True)
    jobs.start.return_value = jobs.get.return_value = jobs.cancel.return_value = RUNNING
    deps = ConsoleDeps(
        live=live,
        ruleset_name="default",
        default_text=lambda: DEFAULT,
        backtests=jobs,
        actions=RulesetActions(rules_api),
        crm=CrmSyncClient("http://127.0.0.1:9", timeout_s=0.2, api_token=""),
        auth=ConsoleAuth(ConsoleSettings(), dev=True),
    )
    app = FastAPI()
    app.state.engine = engine  # what the scoring app's lifespan does: pages read the engine from the app
    app.include_router(console_router(deps))
    with TestClient(app) as client:
        yield Console(client, jobs, publisher, live, engine)
    engine.dispose()


def save_draft(console: Console, text: str) -> str:
    saved = console.client.post(
        "/console/rules/yaml", data={"csrf": console.csrf(), "yaml": text, "action": "save", "base": ""}
    )
    assert saved.status_code == 200, saved.text
    match = re.search(r"version <code>([0-9a-f]+)</code>", saved.text)
    assert match
    return match.group(1)


def test_dev_mode_says_it_is_open_on_every_page(console: Console) -> None:
    for path in ("/console/rules", "/console/leads", "/console/preview", "/console/model", "/console/accounts"):
        page = console.client.get(path)
        assert page.status_code == 200 and "this console is OPEN" in page.text, path


def test_a_long_preview_shows_progress_and_can_be_cancelled(console: Console) -> None:
    version = save_draft(console, DEFAULT.replace("points: 40", "points: 45", 1))
    started = console.client.post(
        "/console/preview", data={"csrf": console.csrf(), "version": version, "period": "90d"}, follow_redirects=False
    )
    assert started.status_code == 303 and started.headers["location"] == "/console/preview/job1"
    candidate, period = console.jobs.start.call_args.args
    assert candidate.version == version and period.since is not None
    page = console.client.get("/console/preview/job1").text
    assert '<progress id="bar" max="2000" value="500">' in page and "500 of 2,000 events" in page
    assert console.client.get("/console/preview/job1/progress").json() == {
        "status": "running",
        "done": 500,
        "total": 2000,
    }
    cancel = console.client.post("/console/preview/job1/cancel", data={"csrf": console.csrf()}, follow_redirects=False)
    assert cancel.status_code == 303
    console.jobs.cancel.assert_called_once_with("job1")
    refused = console.client.post("/console/preview/job1/cancel", data={"csrf": "forged"})
    assert refused.status_code == 403 and console.jobs.cancel.call_count == 1


def test_publish_goes_through_the_ruleset_api_and_the_first_one_keeps_a_baseline(console: Console) -> None:
    version = save_draft(console, DEFAULT.replace("points: 40", "points: 45", 1))
    confirm = console.client.get(f"/console/rules/v/{version}/publish").text
    assert "Expected change in MQL volume: unknown" in confirm
    done = console.client.post(f"/console/rules/v/{version}/publish", data={"csrf": console.csrf()})
    assert done.status_code == 200 and f"Published {version}" in done.text
    assert console.live.current().version == version
    assert console.publisher.publish.call_count == 2, "the default (baseline) then the draft were announced"
    back = console.client.post("/console/rules/rollback", data={"csrf": console.csrf()})
    assert "Rolled back" in back.text and console.live.current().version == load_default_ruleset().version


def test_the_model_page_shows_the_champion_card_or_says_rules_only(console: Console) -> None:
    assert "No model is registered" in console.client.get("/console/model").text
    card = {
        "status": "trained",
        "test": {
            "model": {"roc_auc": 0.81, "pr_auc": 0.42, "top_decile_lift": 3.1, "lift_by_decile": LIFT},
            "rules": {"roc_auc": 0.7, "pr_auc": 0.3, "top_decile_lift": 2.0, "lift_by_decile": LIFT},
            "calibration_bins": [{"low": 0.0, "high": 0.5, "rows": 9, "predicted": 0.2, "observed": 0.25}],
        },
        "feature_importance": [{"feature": "engagement_<7d>", "gain": 12.5}],
    }
    with Session(console.engine) as session, session.begin():
        row = model_registry.register(
            session,
            model_text="tree",
            calibrator={"kind": "platt"},
            features=["fit"],
            card=card,
            training_since=None,
            training_until=None,
        )
        assert row.version is not None
        model_registry.promote(session, row.version, "champion")
    page = console.client.get("/console/model").text
    assert "Champion: model 1" in page and "0.810" in page and "engagement_&lt;7d&gt;" in page
    assert page.count('role="img"') == 2, "lift and calibration are drawn"
    assert "baseline (logistic)" in page and "0.810 beats the rules&#x27; 0.700 (by +0.110)" in page


LIFT = [{"decile": d, "lift": 2.0 / d, "conversion_rate": 0.1} for d in range(1, 4)]
