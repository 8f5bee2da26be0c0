"""Who a HubSpot webhook is about: contact emails by contact id, and the contacts associated with a deal.

HubSpot webhooks name object ids only, while outcomes are keyed by the person key derived from the email (exactly
like ingest), so the outcome endpoint asks HubSpot. Why it is shaped this way:

* It runs while HubSpot waits for the webhook answer (HubSpot gives up after a few seconds and retries), so
  every request has a short timeout and the shared rate limiter is waited on for at most that long: failing fast
  with :class:`LookupUnavailable` (the endpoint answers 503) beats holding the sender past its timeout.
* Any failure of a lookup (429, 5xx, timeout, auth) raises: the endpoint must never acknowledge a notification it
  could not turn into outcomes, and HubSpot retries a 503.
* Answers are read as plain JSON (``_preload_content=False``), as in the adapter: 207 answers carry per-input
  errors (contact not found, deal without associations) that mean "nobody", not "failed".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import urllib3
from hubspot import HubSpot  # type: ignore[import-untyped]
from hubspot.crm import contacts  # type: ignore[import-untyped]
from hubspot.crm.associations import v4 as associations_v4  # type: ignore[import-untyped]

from peerscore.crm_sync.adapters.limits import LimiterBusy, SlidingWindowLimiter, retry_after_seconds

MAX_BATCH = 100
MAX_PAGES = 10
"""Association pages followed per deal (HubSpot pages per object); a deal with more contacts is truncated."""
_API_ERRORS = (contacts.ApiException, associations_v4.ApiException)
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (urllib3.exceptions.HTTPError, OSError)


class LookupUnavailable(Exception):
    """HubSpot could not answer now; the webhook must not be acknowledged (HubSpot retries it)."""


class HubSpotPeople:
    """Contact emails and deal → contact associations through the official SDK, on the app's shared limiter."""

    def __init__(self, client: HubSpot, limiter: SlidingWindowLimiter, timeout_s: float = 2.0) -> None:
        self._contacts = client.crm.contacts.batch_api
        self._associations = client.crm.associations.v4.batch_api
        self._limiter = limiter
        self._timeout = timeout_s

    def contact_emails(self, contact_ids: Sequence[str]) -> dict[str, str]:
        """Email by contact id; contacts HubSpot does not know (deleted, merged) or without an email are absent."""
        found: dict[str, str] = {}
        ids = list(dict.fromkeys(contact_ids))
        for start in range(0, len(ids), MAX_BATCH):
            body = {"properties": ["email"], "inputs": [{"id": i} for i in ids[start : start + MAX_BATCH]]}
            answer = self._call(lambda b=body: self._contacts.read_with_http_info(b, **self._options()))
            for result in answer.get("results", []):
                email = (result.get("properties") or {}).get("email")
                if email:
                    found[str(result["id"])] = str(email)
        return found

    def deal_contacts(self, deal_ids: Sequence[str]) -> dict[str, list[str]]:
        """Associated contact ids by deal id, in HubSpot's order; a deal without contacts maps to ``[]``."""
        contacts_of: dict[str, list[str]] = {d: [] for d in dict.fromkeys(deal_ids)}
        pending: list[dict[str, str]] = [{"id": d} for d in contacts_of]
        pages = 0
        while pending and pages < MAX_PAGES:
            pages += 1
            next_round: list[dict[str, str]] = []
            for start in range(0, len(pending), MAX_BATCH):
                body = {"inputs": pending[start : start + MAX_BATCH]}
                answer = self._call(
                    lambda b=body: self._associations.get_page_with_http_info("deals", "contacts", b, **self._options())
                )
                for result in answer.get("results", []):
                    deal = str((result.get("from") or {}).get("id"))
                    if deal not in contacts_of:
                        continue
                    contacts_of[deal].extend(str(to["toObjectId"]) for to in result.get("to", []))
                    after = ((result.get("paging") or {}).get("next") or {}).get("after")
                    if after:
                        next_round.append({"id": deal, "after": str(after)})
            pending = next_round
        return {deal: list(dict.fromkeys(ids)) for deal, ids in contacts_of.items()}

    def _options(self) -> dict[str, Any]:
        return {"_request_timeout": self._timeout, "_preload_content": False}

    def _call(self, request: Any) -> dict[str, Any]:
        try:
            self._limiter.acquire(max_wait_s=self._timeout)
        except LimiterBusy as exc:
            raise LookupUnavailable(f"HubSpot rate limit: {exc}") from exc
        try:
            response = request()
        except _API_ERRORS as exc:
            if exc.status == 429:
                self._limiter.pause(retry_after_seconds(dict(exc.headers or {}), default=1.0) or 1.0)
            raise LookupUnavailable(f"HubSpot {exc.status}: {exc.reason}") from exc
        except _TRANSPORT_ERRORS as exc:
            raise LookupUnavailable(f"HubSpot unreachable: {type(exc).__name__}") from exc
        try:
            data = json.loads(response.data)
        except ValueError as exc:
            raise LookupUnavailable("HubSpot answered with something other than JSON") from exc
        return data if isinstance(data, dict) else {}
