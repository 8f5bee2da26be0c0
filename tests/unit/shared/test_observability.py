from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from peerscore.consumer import Backoff
from peerscore.observability import configure_logging, scrub_personal_data


def test_scrubber_masks_emails_and_personal_fields() -> None:
    cleaned = scrub_personal_data(None, "info", {"event": "got ada@acme.example", "email": "x", "count": 3})
    assert cleaned == {"event": "got [email]", "email": "[redacted]", "count": 3}


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging binds the root logger to this test's captured stdout, which pytest closes afterwards:
    put the previous handlers back, or a later test's logging writes to a closed file."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


@pytest.mark.usefixtures("restored_logging")
def test_logs_are_json_lines_without_emails(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("unit", "INFO")
    structlog.get_logger("t").info("lead_seen", detail="from grace@harbor.example", person_key="p_1")
    logging.getLogger("stdlib").warning("plain %s", "kai@gmail.com")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [line["event"] for line in lines] == ["lead_seen", "plain [email]"]
    assert lines[0]["service"] == "unit" and lines[0]["person_key"] == "p_1"
    assert "@" not in json.dumps(lines)


def test_backoff_grows_caps_and_respects_hints() -> None:
    backoff = Backoff(initial_s=0.1, maximum_s=1.0)
    delays = [backoff.next_delay(None) for _ in range(6)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff.next_delay(5.0) == 1.0
    backoff.reset()
    assert backoff.next_delay(0.5) == 0.5
