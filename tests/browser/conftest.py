"""Browser tests: Debian's Chromium driven by Playwright against a real scoring service.

The service runs as a child process (``python -m peerscore.scoring``, uvicorn on a free port) on the real
embedded broker and a SQLite file, outside dev (admin token, API token), with generated buyer journeys and a
few CRM outcomes already scored. Chromium is never downloaded: a missing ``/usr/bin/chromium`` fails the tests
loudly (``make test`` installs it).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from peerscore.crm_sync.domain.outcomes import generic_outcomes, keyed_outcomes
from peerscore.db import make_engine
from peerscore.dev.broker import free_port
from peerscore.kafka_io import make_publisher, record
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics
from tests.conftest import unique
from tests.integration.scoring.support import END, SECRET, applied_count, journey_events
from tests.processes import start_service, stop, wait_ready, wait_until

CHROMIUM = os.environ.get("PEERSCORE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path("var/screenshots")
ADMIN_TOKEN = "browser-test-admin-token"
API_TOKEN = "browser-test-api-token"
PEOPLE = 45


@dataclass(frozen=True)
class Service:
    base_url: str
    api_headers: dict[str, str]
    database_url: str

    def api(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base_url}{path}", headers=self.api_headers, timeout=10)


def _load_history(kafka: KafkaSettings, database_url: str, group: str) -> None:
    """Publish generated journeys, wait until the service applied them all, then report some CRM outcomes."""
    events = journey_events(people=PEOPLE, seed=23)
    topics = kafka.topics()
    publisher = make_publisher(kafka, "browser-test")
    try:
        publisher.publish([record(topics.events, e.person_key, e) for e in events], wait=True)
        engine = make_engine(database_url)
        try:
            wait_until(lambda: applied_count(engine, group) >= len(events), 90, "the history to be scored", 0.3)
        finally:
            engine.dispose()
        # The CRM reports by email (crm-sync's generic webhook parsing and keying); scoring joins the user ids.
        emails = sorted({e.person.email for e in events if e.person.email})
        body = {
            "outcomes": [
                {
                    "event_id": f"browser-{i}",
                    "email": email,
                    "kind": "won" if i % 3 == 0 else "rejected",
                    "occurred_at": (END + timedelta(days=1)).isoformat(),
                }
                for i, email in enumerate(emails)
            ]
        }
        raw = generic_outcomes(body, END + timedelta(days=1))
        outcomes, unkeyed = keyed_outcomes("webhook", raw, SECRET, END + timedelta(days=1))
        assert outcomes and not unkeyed
        publisher.publish([record(topics.outcomes, o.person_key, o) for o in outcomes], wait=True)
    finally:
        publisher.close()


@pytest.fixture(scope="module")
def scoring_service(broker_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    kafka = KafkaSettings(
        bootstrap_servers=broker_bootstrap,
        topic_prefix=unique("b").replace("-", "_"),
        event_partitions=4,
        client_id=unique("browser"),
    )
    ensure_topics(kafka)
    tmp = tmp_path_factory.mktemp("console")
    database_url = f"sqlite:///{tmp / 'scoring.db'}"
    group = unique("scoring")
    port = free_port()
    env = {
        "PEERSCORE_ENV": "prod",
        "PEERSCORE_API_TOKEN": API_TOKEN,
        "PEERSCORE_PERSON_KEY_SECRET": SECRET.decode(),
        "CONSOLE_ADMIN_TOKEN": ADMIN_TOKEN,
        "CONSOLE_CRM_SYNC_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens: status shows "unknown"
        "KAFKA_BOOTSTRAP_SERVERS": broker_bootstrap,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_EVENT_PARTITIONS": "4",
        "KAFKA_CLIENT_ID": kafka.client_id,
        "DATABASE_URL": database_url,
        "HTTP_PORT": str(port),
        "SCORING_GROUP_ID": group,
        "SCORING_DECAY_SWEEP_INTERVAL_S": "0",
        "SCORING_RULESET_POLL_MS": "200",
        "SCORING_BACKTEST_WORKERS": "1",
    }
    proc: subprocess.Popen[bytes] = start_service("peerscore.scoring", env, tmp / "scoring.log")
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, proc, timeout=90)
        _load_history(kafka, database_url, group)
        yield Service(base_url, {"Authorization": f"Bearer {API_TOKEN}"}, database_url)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser tests need Debian's chromium package "
            "(`make test` installs it; or run `apt-get install -y chromium`)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    """A full-page screenshot under var/screenshots/ for reviewers."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
