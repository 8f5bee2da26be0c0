"""Slack and Microsoft Teams incoming webhooks: one ``POST`` of a rendered alert, and what the answer means.

One attempt per call: retries are the alert ledger's (:mod:`peerscore.crm_sync.alerts`), which schedules them
with back-off and ``Retry-After`` while the other destinations keep going. The answer, for both:

* 2xx — delivered (Slack answers ``ok``; Teams ``1`` or 202 for Workflows).
* 429 — throttled (Slack allows about one message per second per webhook): retried after ``Retry-After``,
  never charged to the retry budget. Legacy Teams connectors report their throttling as a 200 whose body says
  ``HTTP error 429``: treated the same.
* 408, 5xx, no answer, a timeout — transient: retried with back-off until the retry budget is spent.
* any other 4xx — the payload or the webhook is wrong for good (Slack ``invalid_payload``, ``no_service``,
  ``channel_is_archived``; Teams ``Bad payload``): dead-lettered at once with the destination's reason.

The webhook URL is the credential: it never appears in a message, a log or an error.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from peerscore.crm_sync.adapters.base import SyncResult
from peerscore.crm_sync.adapters.limits import retry_after_seconds

THROTTLED_DEFAULT_S = 1.0


class ChatWebhooks:
    """Posts alerts to the incoming webhook each destination's name resolves to (``url_of``)."""

    def __init__(self, client: httpx.Client, url_of: Callable[[str], str]) -> None:
        self._client = client
        self._url_of = url_of

    def post(self, destination: str, kind: str, person_key: str, version: int, message: str) -> SyncResult:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            response = self._client.post(self._url_of(destination), content=message.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return SyncResult(person_key, version, "retryable", f"{kind} unreachable: {type(exc).__name__}")
        status, text = response.status_code, response.text[:300]
        reason = f"{kind} {status}: {text}"
        if status == 429 or (kind == "teams" and 200 <= status < 300 and "HTTP error 429" in text):
            wait = retry_after_seconds(dict(response.headers), THROTTLED_DEFAULT_S)
            return SyncResult(person_key, version, "retryable", reason, wait, throttled=True)
        if 200 <= status < 300:
            return SyncResult(person_key, version, "ok")
        if status == 408 or status >= 500:
            return SyncResult(person_key, version, "retryable", reason, retry_after_seconds(dict(response.headers)))
        return SyncResult(person_key, version, "permanent", reason)
