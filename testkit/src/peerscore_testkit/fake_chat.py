"""Slack and Microsoft Teams incoming webhooks, strict about what they take and recording what they received.

Slack (``/services/T000/B000/<secret>``): a JSON object with ``text`` or ``blocks`` (Block Kit: at most 50 blocks,
a header's plain text ≤ 150 characters, a section ≤ 10 fields), answered ``200 ok``; anything else ``400
invalid_payload``, an unknown path ``404 no_service``. Teams (``/webhookb2/<secret>``): a ``message`` with an
Adaptive Card attachment, answered ``200 1``, else ``400 Bad payload``. Both record each accepted payload in
``state.extra["messages"]`` as ``(path, payload, time.time())``; faults (429 with ``Retry-After``, 500, slow
answers) are queued on ``state.faults`` as for the CRM fakes, and ``state.extra["delay_s"]`` delays every request
before it is taken, like a real webhook's latency: a client killed meanwhile has still posted (as with Slack).
"""

from __future__ import annotations

import json
import time
from typing import Any

from peerscore_testkit.fake_servers import FakeServer, _Handler

SLACK_PATH = "/services/T000/B000/slacksecret"
TEAMS_PATH = "/webhookb2/teamssecret"


def _text(h: _Handler, status: int, body: str) -> None:
    data = body.encode()
    h.send_response(status)
    h.send_header("Content-Type", "text/plain; charset=utf-8")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def _slack_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
        return "no_text"
    blocks = payload.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "header" and len(block.get("text", {}).get("text", "")) > 150:
            return "invalid_blocks"
        if kind == "section" and len(block.get("fields", [])) > 10:
            return "invalid_blocks"
        if kind not in ("header", "section", "context", "actions", "divider"):
            return "invalid_blocks"
    return None


def _teams_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return "Bad payload"
    attachments = payload.get("attachments") or []
    if not attachments or attachments[0].get("contentType") != "application/vnd.microsoft.card.adaptive":
        return "Bad payload"
    return None if attachments[0].get("content", {}).get("type") == "AdaptiveCard" else "Bad payload"


def _route(h: _Handler, raw: bytes) -> None:
    state = h.server.state
    time.sleep(float(state.extra.get("delay_s", 0.0)))
    path = h.path.split("?")[0]
    if path not in (SLACK_PATH, TEAMS_PATH):
        _text(h, 404, "no_service")
        return
    try:
        payload = json.loads(raw)
    except ValueError:
        _text(h, 400, "invalid_payload")
        return
    slack = path == SLACK_PATH
    problem = _slack_problem(payload) if slack else _teams_problem(payload)
    if problem is not None:
        _text(h, 400, problem)
        return
    with state.lock:
        state.extra.setdefault("messages", []).append((path, payload, time.time()))
    _text(h, 200, "ok" if slack else "1")


def chat_server() -> FakeServer:
    """One server for both: Slack at ``url + SLACK_PATH``, Teams at ``url + TEAMS_PATH``."""
    return FakeServer(_route)


def messages(server: FakeServer, path: str = SLACK_PATH) -> list[dict[str, Any]]:
    with server.state.lock:
        return [payload for p, payload, _ in server.state.extra.get("messages", []) if p == path]


def arrivals(server: FakeServer, path: str = SLACK_PATH) -> list[tuple[dict[str, Any], float]]:
    """Each accepted payload with the wall-clock time it was taken."""
    with server.state.lock:
        return [(payload, at) for p, payload, at in server.state.extra.get("messages", []) if p == path]
