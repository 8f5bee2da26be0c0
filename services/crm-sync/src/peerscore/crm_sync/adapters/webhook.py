"""A signed JSON webhook per lead, for Zapier, n8n or any receiver that can check an HMAC.

Each lead is one ``POST`` (a receiver's unit of work is one lead) with ``X-Peerscore-Timestamp`` and
``X-Peerscore-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``; ``X-Peerscore-Idempotency-Key``
(``person_key:version``) lets receivers drop the rare resend. A few quick retries with exponential backoff absorb
blips; after them the lead is reported retryable and the worker's retry budget takes over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence

import httpx

from peerscore.crm_sync.adapters.base import SyncResult
from peerscore.crm_sync.adapters.limits import SlidingWindowLimiter, retry_after_seconds
from peerscore.crm_sync.domain.mapping import CrmLeadRecord
from peerscore.crm_sync.domain.payloads import webhook_body
from peerscore.crm_sync.domain.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, peerscore_signature


class WebhookAdapter:
    name = "webhook"

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        secret: bytes,
        mapping: Mapping[str, str],
        *,
        attempts: int = 3,
        backoff_s: float = 0.2,
        limiter: SlidingWindowLimiter | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._url = url
        self._secret = secret
        self._mapping = dict(mapping)
        self._attempts = max(attempts, 1)
        self._backoff_s = backoff_s
        self._limiter = limiter
        self._clock = clock
        self._sleep = sleep

    def upsert(self, leads: Sequence[CrmLeadRecord]) -> list[SyncResult]:
        return [self._send(lead) for lead in leads]

    def _send(self, lead: CrmLeadRecord) -> SyncResult:
        body = json.dumps(webhook_body(lead, self._mapping), separators=(",", ":")).encode()
        result = SyncResult.retryable(lead, "not sent")
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(min(self._backoff_s * 2 ** (attempt - 1), 5.0))
            result = self._post(lead, body)
            if result.outcome != "retryable" or (result.retry_after or 0) > 5.0:
                break
        return result

    def _post(self, lead: CrmLeadRecord, body: bytes) -> SyncResult:
        if self._limiter is not None:
            self._limiter.acquire()
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: peerscore_signature(self._secret, timestamp, body),
            "X-Peerscore-Idempotency-Key": f"{lead.person_key}:{lead.version}",
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return SyncResult.retryable(lead, f"webhook unreachable: {type(exc).__name__}")
        status = response.status_code
        if 200 <= status < 300:
            return SyncResult.ok(lead)
        message = f"webhook {status}: {response.text[:500]}"
        if status in (401, 403, 404, 408, 429) or status >= 500:  # auth or URL: the setup's fault, not the lead's
            return SyncResult.retryable(lead, message, retry_after_seconds(dict(response.headers)))
        return SyncResult.permanent(lead, message)
