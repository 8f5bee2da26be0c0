"""Logs carry counts and field paths, never personal data such as emails."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from peerscore.ingest import app as app_module
from tests.unit.ingest.support import WRITE_KEY, RecordingPublisher, basic, make_client, track

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    with capture_logs() as captured:
        # A fresh logger bound under the capturing config, whatever another test configured or cached.
        monkeypatch.setattr(app_module, "log", structlog.get_logger("peerscore.ingest.app"))
        yield captured


def test_no_log_line_contains_an_email(logs: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    identify = {
        "type": "identify",
        "userId": "user-1",
        "traits": {"email": "jane.doe@acme.com", "firstName": "Jane"},
    }
    tracked = track(1, context={"traits": {"email": "jane.doe@acme.com"}}, properties={"email": "jane@acme.com"})
    bad = track(2, timestamp="jane.doe@acme.com", userId="jane.doe@acme.com")
    ok_publisher = RecordingPublisher()
    with make_client(ok_publisher) as client:
        assert (
            client.post("/v1/batch", json={"batch": [identify, tracked]}, headers=basic(WRITE_KEY)).status_code == 200
        )
        rejected = client.post("/v1/batch", json={"batch": [bad]}, headers=basic(WRITE_KEY))
        assert rejected.status_code == 400
        assert not EMAIL.search(rejected.text)
    with make_client(RecordingPublisher(fail=RuntimeError("down for jane.doe@acme.com"))) as client:
        assert client.post("/v1/batch", json={"batch": [identify]}, headers=basic(WRITE_KEY)).status_code == 503

    events = [entry["event"] for entry in logs]
    assert {"events_accepted", "request_rejected", "publish_failed"} <= set(events)
    accepted = next(entry for entry in logs if entry["event"] == "events_accepted")
    assert (accepted["events"], accepted["persons"]) == (2, 1)
    rendered = json.dumps(logs, default=str) + caplog.text
    assert not EMAIL.search(rendered)
    # the email does reach Kafka values: that is where the CRM needs it, and only there
    assert any(b"jane.doe@acme.com" in r.value for r in ok_publisher.records)
