"""Server-side charts (escaped, readable without colour) and the console's sessions and CSRF checks."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from pydantic import SecretStr
from starlette.requests import Request

from peerscore.scoring.console.auth import COOKIE, ConsoleAuth, Forbidden, NotSignedIn
from peerscore.scoring.console.charts import Series, grouped_bars, lines, nice_max
from peerscore.scoring.console.html import url
from peerscore.scoring.console.settings import ConsoleSettings
from peerscore.settings import RuntimeSettings


def request(headers: dict[str, str] | None = None, cookie: str | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    raw.append((b"host", b"console.example:8001"))
    if cookie is not None:
        raw.append((b"cookie", f"{COOKIE}={cookie}".encode()))
    return Request({"type": "http", "method": "POST", "path": "/console/x", "headers": raw})


def test_axis_maximum_is_round() -> None:
    assert [nice_max(v) for v in (0, 3, 7, 12, 99, 101)] == [1.0, 5.0, 10.0, 20.0, 100.0, 200.0]


def test_charts_escape_labels_and_list_their_numbers() -> None:
    svg = grouped_bars("Bins", ["<0>", "10"], [Series("live <b>", [1, 2]), Series("cand", [3, 4])], summary="s")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and 'role="img"' in svg
    assert "<td>4</td>" in svg  # the table under the chart
    assert "no data" in lines("Weeks", [], [Series("a", [])], summary="s")


def test_outside_dev_the_console_needs_a_real_token_and_stays_off_without_one() -> None:
    prod = RuntimeSettings(env="prod")
    assert ConsoleSettings(admin_token=SecretStr("")).enabled(prod) is False
    assert ConsoleSettings(admin_token=SecretStr("")).enabled(RuntimeSettings(env="dev")) is True
    with pytest.raises(ValueError, match="placeholder"):
        ConsoleSettings(admin_token=SecretStr("changeme")).enabled(prod)


def test_sessions_are_signed_expire_and_carry_a_csrf_token() -> None:
    auth = ConsoleAuth(ConsoleSettings(admin_token=SecretStr("s3cret-admin"), session_hours=1), dev=False)
    with pytest.raises(NotSignedIn):
        auth.session(request())
    cookie = auth.mint()
    session = auth.session(request(cookie=cookie))
    auth.check_post(request({"Origin": "http://console.example:8001"}, cookie), session, session.csrf)
    with pytest.raises(NotSignedIn):
        auth.session(request(cookie=cookie[:-1] + ("0" if cookie[-1] != "0" else "1")))
    with mock.patch("peerscore.scoring.console.auth.time.time", return_value=time.time() + 7200):
        with pytest.raises(NotSignedIn):
            auth.session(request(cookie=cookie))
    with pytest.raises(Forbidden):
        auth.check_post(request(cookie=cookie), session, "not-the-token")
    with pytest.raises(Forbidden):
        auth.check_post(request({"Origin": "https://evil.example"}, cookie), session, session.csrf)


def test_bearer_calls_need_the_token_and_dev_without_one_is_open() -> None:
    auth = ConsoleAuth(ConsoleSettings(admin_token=SecretStr("s3cret-admin")), dev=False)
    assert auth.session(request({"Authorization": "Bearer s3cret-admin"})).bearer
    with pytest.raises(NotSignedIn):
        auth.session(request({"Authorization": "Bearer nope"}))
    open_auth = ConsoleAuth(ConsoleSettings(), dev=True)
    minted = open_auth.session(request())
    assert open_auth.open and minted.fresh_cookie is not None
    assert open_auth.session(request(cookie=minted.fresh_cookie)).csrf == minted.csrf


def test_urls_built_from_event_data_cannot_break_out_of_an_attribute() -> None:
    assert url('/accounts/a"b<c>.example', q="x&y") == "/console/accounts/a%22b%3Cc%3E.example?q=x%26y"
