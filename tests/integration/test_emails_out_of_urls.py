"""Emails leave URLs (where proxies and access logs keep them): erasure and console search take them in the
body; the old forms still work for one release with a ``Deprecation`` header and a warning that never names the
email. The scoring app is built as production builds it, with a recording publisher instead of Kafka."""

from __future__ import annotations

import re

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from peerscore.scoring.console.auth import COOKIE
from tests.integration.test_security_routes import ADMIN_TOKEN, READ_TOKEN, RecordingPublisher, build_apps

pytestmark = pytest.mark.integration

EMAIL = "ada.lovelace@acme.example"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def scoring(engine: Engine) -> tuple[TestClient, RecordingPublisher]:
    """On SQLite, and on PostgreSQL too with TEST_DATABASE_URL."""
    publisher = RecordingPublisher()
    app = build_apps(engine, publisher)["scoring"]
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False), publisher


def test_erasure_takes_the_email_in_the_body_and_the_old_path_is_deprecated(
    scoring: tuple[TestClient, RecordingPublisher],
) -> None:
    client, publisher = scoring
    with client:
        new = client.post("/v1/people/erase", json={"email": EMAIL}, headers=ADMIN)
        assert new.status_code == 202 and "deprecation" not in new.headers
        assert EMAIL not in str(new.request.url)
        published = len(publisher.records)
        assert published >= 1
        refused = client.post(
            "/v1/people/erase", json={"email": EMAIL}, headers={"Authorization": f"Bearer {READ_TOKEN}"}
        )
        assert refused.status_code == 403
        with structlog.testing.capture_logs() as logs:
            old = client.delete(f"/v1/people/{EMAIL}", headers=ADMIN)
        assert old.status_code == 202
        assert old.headers["deprecation"] == "true" and "/v1/people/erase" in old.headers["link"]
        assert len(publisher.records) == 2 * published, "the old form still erases"
        warned = [e for e in logs if e["event"] == "email_in_url_deprecated"]
        assert warned and EMAIL not in str(warned)


def test_console_lead_search_posts_the_query(scoring: tuple[TestClient, RecordingPublisher]) -> None:
    client, _ = scoring
    with client:
        signed = client.post("/console/login", data={"token": "console-admin-token-22aa", "next": "/console/leads"})
        cookie = {"Cookie": f"{COOKIE}={signed.cookies[COOKIE]}"}
        page = client.get("/console/leads", headers=cookie)
        assert page.status_code == 200 and "deprecation" not in page.headers
        form = re.search(r'<form method="(\w+)" action="/console/leads"[^>]*>(.*?)</form>', page.text, re.S)
        assert form is not None and form.group(1) == "post", "the search form must not put the query in the URL"
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.group(2))
        assert csrf is not None
        posted = client.post("/console/leads", data={"csrf": csrf.group(1), "by": "email", "q": EMAIL}, headers=cookie)
        assert posted.status_code == 200 and "deprecation" not in posted.headers
        assert f'value="{EMAIL}"' in posted.text  # the query is shown back in the form, not the URL
        assert client.post("/console/leads", data={"q": EMAIL}, headers=cookie).status_code == 403  # no CSRF token
        old = client.get("/console/leads", params={"q": EMAIL}, headers=cookie)
        assert old.status_code == 200 and old.headers["deprecation"] == "true"
