"""The console's sign-in as the review found it: sign-out did not revoke the cookie (a copy kept working for
12 hours), the cookie MAC was keyed by the bare admin token, any token length was accepted, and sign-in could be
tried without limit. The scoring app is built as production builds it (``build_apps``),
on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from peerscore.scoring.console.auth import COOKIE
from peerscore.scoring.console.settings import ConsoleSettings
from peerscore.settings import RuntimeSettings
from tests.integration.test_security_routes import RecordingPublisher, build_apps

pytestmark = pytest.mark.integration

CONSOLE_TOKEN = "console-admin-token-22aa"  # what build_apps gives the console


@pytest.fixture
def console(engine: Engine) -> TestClient:
    """On SQLite, and on PostgreSQL too with TEST_DATABASE_URL: revocations live in the database."""
    app = build_apps(engine, RecordingPublisher())["scoring"]
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def sign_in(client: TestClient, token: str = CONSOLE_TOKEN) -> str:
    answer = client.post("/console/login", data={"token": token, "next": "/console/rules"})
    assert answer.status_code == 303, answer.status_code
    return answer.cookies[COOKIE]


def signed_in(client: TestClient, cookie: str) -> bool:
    answer = client.get("/console/rules", headers={"Cookie": f"{COOKIE}={cookie}"})
    return answer.status_code == 200


def test_signing_out_revokes_the_cookie_even_where_a_copy_survives(console: TestClient) -> None:
    with console:
        cookie = sign_in(console)
        page = console.get("/console/rules", headers={"Cookie": f"{COOKIE}={cookie}"})
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        out = console.post("/console/logout", data={"csrf": csrf.group(1)}, headers={"Cookie": f"{COOKIE}={cookie}"})
        assert out.status_code == 303
        assert not signed_in(console, cookie), "the copied cookie still opens the console after sign-out"
        assert signed_in(console, sign_in(console)), "signing in again works"


def test_the_cookie_is_not_macd_with_the_bare_admin_token(console: TestClient) -> None:
    with console:
        issued, nonce, mac = sign_in(console).split(".")
        with_bare_token = hmac.new(CONSOLE_TOKEN.encode(), f"session:{issued}.{nonce}".encode(), hashlib.sha256)
        assert mac != with_bare_token.hexdigest()
        assert not signed_in(console, f"{issued}.{nonce}.{with_bare_token.hexdigest()}")


def test_sign_in_attempts_are_limited_per_client(console: TestClient) -> None:
    with console:
        answers = [console.post("/console/login", data={"token": f"guess-{i}"}) for i in range(8)]
        statuses = [a.status_code for a in answers]
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}, statuses
        assert int(answers[-1].headers["Retry-After"]) >= 1
        limited = console.post("/console/login", data={"token": CONSOLE_TOKEN})
        assert limited.status_code == 429  # the right token does not jump the queue


def test_outside_dev_the_console_token_must_be_long() -> None:
    with pytest.raises(ValueError, match="at least 24"):
        ConsoleSettings(admin_token=SecretStr("short-real-token")).enabled(RuntimeSettings(env="prod"))
    assert ConsoleSettings(admin_token=SecretStr("short")).enabled(RuntimeSettings(env="dev"))
