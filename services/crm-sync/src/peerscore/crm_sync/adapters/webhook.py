"""A signed JSON webhook per lead, for Zapier, n8n or any receiver that can check an HMAC.

Each lead is one ``POST`` (a receiver's unit of work is one lead) with ``X-Peerscore-Timestamp`` and
``X-Peerscore-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``; ``X-Peerscore-Idempotency-Key``
(``person_key:version``) lets receivers drop the rare resend. Erasures and merges are signed events of their own
(``peerscore.lead.erased`` / ``peerscore.lead.merged``, person keys only): the receiver owns the records it made.
A few quick retries with exponential backoff absorb
blips; after them the lead is reported retryable and the worker's retry budget takes over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence

import httpx

from peerscore.crm_sync.adapters.base import PersonRecord, RecordResult, SyncResult
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

    def erase(self, person: PersonRecord) -> RecordResult:
        """A signed ``peerscore.lead.erased`` event: the receiver deletes what it made of the person's leads."""
        body = {"event": "peerscore.lead.erased", "person_key": person.person_key}
        return self._notify(body, f"erased:{person.person_key}")

    def merge(self, target: PersonRecord, source: PersonRecord) -> RecordResult:
        """A signed ``peerscore.lead.merged`` event: ``merged_person_key``'s lead is now ``person_key``'s."""
        body = {"event": "peerscore.lead.merged", "person_key": target.person_key}
        body["merged_person_key"] = source.person_key
        return self._notify(body, f"merged:{source.person_key}:{target.person_key}")

    def _notify(self, event: dict[str, str], idempotency_key: str) -> RecordResult:
        body = json.dumps(event, separators=(",", ":")).encode()
        status, message, retry_after = 0, "not sent", None
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(min(self._backoff_s * 2 ** (attempt - 1), 5.0))
            status, message, retry_after = self._deliver(body, idempotency_key)
            if 200 <= status < 300 or not _retryable(status):
                break
        if 200 <= status < 300:
            return RecordResult("done")
        return RecordResult("retryable" if _retryable(status) else "permanent", message, retry_after)

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
        status, message, retry_after = self._deliver(body, f"{lead.person_key}:{lead.version}")
        if 200 <= status < 300:
            return SyncResult.ok(lead)
        if _retryable(status):
            return SyncResult.retryable(lead, message, retry_after, throttled=status == 429)
        return SyncResult.permanent(lead, message)

    def _deliver(self, body: bytes, idempotency_key: str) -> tuple[int, str, float | None]:
        """One signed POST: (status, message, Retry-After); status 0 when the receiver could not be reached."""
        if self._limiter is not None:
            self._limiter.acquire()
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: peerscore_signature(self._secret, timestamp, body),
            "X-Peerscore-Idempotency-Key": idempotency_key,
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return 0, f"webhook unreachable: {type(exc).__name__}", None
        status = response.status_code
        return status, f"webhook {status}: {response.text[:500]}", retry_after_seconds(dict(response.headers))


def _retryable(status: int) -> bool:
    """Auth or URL problems are the setup's fault, not the lead's; 408/429/5xx and no answer are transient."""
    return status == 0 or status in (401, 403, 404, 408, 429) or status >= 500
