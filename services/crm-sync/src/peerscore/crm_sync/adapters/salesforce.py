"""Salesforce through ``simple-salesforce``: match by email, then sObject Collections update / upsert.

Salesforce does not deduplicate by email, so each chunk first looks the buyers up (SOQL by email, in the order of
the match rule: e.g. an open Lead, else a Contact). Records found are updated by id (``PATCH composite/sobjects``);
the rest are upserted by an external-id field (``PATCH composite/sobjects/{SObject}/{ExternalIdField}``), the person
key, so a resent version updates instead of duplicating. Both take up to 200 records and answer one result per
record (``success`` / ``errors``) in request order, with ``allOrNone=false`` so one bad lead never sinks the others.

``Sforce-Limit-Info: api-usage=used/total`` (parsed by simple-salesforce into ``api_usage``) is exposed as a
gauge and, above ``backoff_ratio`` of the org's daily allowance, turns calls into retryable results with a wait:
the org's other integrations keep working. Salesforce answers ``403 REQUEST_LIMIT_EXCEEDED`` (not 429) when the
allowance is gone; that is retryable too.

simple-salesforce always builds ``https://`` URLs: tests serve a trustme certificate and pass a
``requests.Session`` whose ``verify`` is the test CA (see ``make_salesforce_client``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from peerscore.crm_sync.adapters.base import CrmObjectRef, PersonRecord, RecordResult, SyncResult, upsert_in_chunks
from peerscore.crm_sync.adapters.limits import SlidingWindowLimiter
from peerscore.crm_sync.adapters.salesforce_rest import SalesforceRest
from peerscore.crm_sync.domain.mapping import CrmLeadRecord
from peerscore.crm_sync.domain.matching import MATCH_OBJECTS, MatchRule, choose_match, plan_merge
from peerscore.crm_sync.domain.native import NativeFields
from peerscore.crm_sync.domain.payloads import salesforce_record, salesforce_update, validate_salesforce_mapping

MAX_BATCH = 200
LIMIT_BACKOFF_S = 300.0
MERGED_STATUS = "Merged"
MERGED_INTO_FIELD = "Peerscore_Merged_Into__c"
_RETRYABLE_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})


def make_salesforce_client(
    instance_url: str, session_id: str, version: str, session: requests.Session | None = None
) -> Salesforce:
    """A client on an existing session id (OAuth done elsewhere); ``session`` may carry a custom CA bundle."""
    return Salesforce(instance_url=instance_url, session_id=session_id, version=version, session=session)


class SalesforceAdapter:
    name = "salesforce"

    def __init__(
        self,
        client: Salesforce,
        mapping: Mapping[str, str],
        *,
        sobject: str = "Lead",
        external_id_field: str = "Peerscore_Person_Key__c",
        match_rule: MatchRule = "lead_then_contact",
        limiter: SlidingWindowLimiter | None = None,
        timeout_s: float = 10.0,
        backoff_ratio: float = 0.9,
        on_usage: Callable[[int, int], None] | None = None,
        native: NativeFields = NativeFields(),
    ) -> None:
        validate_salesforce_mapping(mapping, sobject)  # raises at start, not for every lead
        self._client = client
        self._rest = SalesforceRest(client, timeout_s)
        self.match_rule = match_rule
        self._native = native
        self._mapping = dict(mapping)
        self._sobject = sobject
        self.external_id_field = external_id_field
        self._limiter = limiter
        self._timeout = timeout_s
        self._backoff_ratio = backoff_ratio
        self._on_usage = on_usage
        self.usage: tuple[int, int] | None = None

    def upsert(self, leads: Sequence[CrmLeadRecord]) -> list[SyncResult]:
        return upsert_in_chunks(leads, MAX_BATCH, self._upsert_chunk)

    def _upsert_chunk(self, leads: list[CrmLeadRecord]) -> list[SyncResult]:
        """Find each buyer's existing record by email (the match rule), update those by id and upsert the rest by
        Peerscore's external id, so a Lead sales already has is updated instead of getting a twin."""
        if self._near_limit():
            message = f"Salesforce API usage {self.usage} above {self._backoff_ratio:.0%} of the allowance"
            return [SyncResult.retryable(lead, message, LIMIT_BACKOFF_S, throttled=True) for lead in leads]
        try:
            existing = self._rest.find_by_email(
                [lead.email for lead in leads], MATCH_OBJECTS[self.match_rule], self._sobject, self.external_id_field
            )
        except (SalesforceError, requests.RequestException) as exc:
            return self._failed(leads, exc)
        matches = [choose_match(lead.email, lead.person_key, existing, self.match_rule) for lead in leads]
        results: list[SyncResult | None] = [None] * len(leads)
        updates = [(i, m) for i, m in enumerate(matches) if m is not None]
        creates = [i for i, m in enumerate(matches) if m is None]
        if updates:
            records = [
                salesforce_update(
                    leads[i],
                    self._mapping,
                    self._sobject,
                    self.external_id_field,
                    (m.sobject, m.object_id),
                    self._native,
                )
                for i, m in updates
            ]
            sent = self._send(
                [leads[i] for i, _ in updates], [m.sobject for _, m in updates], lambda: self._rest.update(records)
            )
            for (i, _), result in zip(updates, sent, strict=True):
                results[i] = result
        if creates:
            records = [
                salesforce_record(leads[i], self._mapping, self._sobject, self.external_id_field, self._native)
                for i in creates
            ]
            sent = self._send(
                [leads[i] for i in creates],
                [self._sobject] * len(creates),
                lambda: self._rest.upsert(self._sobject, self.external_id_field, records),
            )
            for i, result in zip(creates, sent, strict=True):
                results[i] = result
        return [r for r in results if r is not None]

    def _send(self, leads: list[CrmLeadRecord], sobjects: list[str], call: Callable[[], Any]) -> list[SyncResult]:
        """One collections call; its answer read as one result per record, in order."""
        if self._limiter is not None:
            self._limiter.acquire()
        try:
            answer = call()
        except (SalesforceError, requests.RequestException) as exc:
            return self._failed(leads, exc)
        finally:
            self._read_usage()
        if not isinstance(answer, list) or len(answer) != len(leads):
            return [SyncResult.retryable(lead, "Salesforce answered without one result per record") for lead in leads]
        return [_result(lead, item, sobject) for lead, item, sobject in zip(leads, answer, sobjects, strict=True)]

    def _failed(self, leads: list[CrmLeadRecord], exc: Exception) -> list[SyncResult]:
        if isinstance(exc, SalesforceError):
            return [self._failure(lead, exc) for lead in leads]
        message = f"Salesforce unreachable: {type(exc).__name__}: {str(exc)[:300]}"
        return [SyncResult.retryable(lead, message) for lead in leads]

    def erase(self, person: PersonRecord) -> RecordResult:
        """``DELETE sobjects/{Lead|Contact}/{id}``; an already deleted record (404) counts as erased. A person
        synced before crm-sync kept record ids is found by Peerscore's external id."""
        try:
            if person.object is not None:
                targets = [(person.object.object_type, person.object.object_id)]
            else:
                targets = self._rest.find_by_key(self._sobject, self.external_id_field, person.person_key)
            if not targets:
                return RecordResult("gone", "no Salesforce record carries this person key")
            for sobject, object_id in targets:
                self._rest.delete(sobject, object_id)
        except SalesforceError as exc:
            if exc.status == 404:
                return RecordResult("gone", f"Salesforce 404: {_errors_text(exc.content)}")
            return self._record_failure(exc)
        except requests.RequestException as exc:
            return RecordResult("retryable", f"Salesforce unreachable: {type(exc).__name__}")
        if person.object is None:
            return RecordResult("done", "found by person key: " + ", ".join(f"{t} {i}" for t, i in targets))
        return RecordResult("done")

    def merge(self, target: PersonRecord, source: PersonRecord) -> RecordResult:
        """The REST API has no merge call (it is SOAP/Apex only), so the record :func:`plan_merge` retires is marked:
        Peerscore's status field says ``Merged`` and ``Peerscore_Merged_Into__c`` names the survivor, which sales
        and reports can filter on; the survivor is the one crm-sync keeps updating."""
        plan = plan_merge(target.object, source.object)
        if plan.survivor is None or plan.retired is None:
            return RecordResult("done", survivor=plan.survivor)
        fields = {MERGED_INTO_FIELD: plan.survivor.object_id}
        if "status" in self._mapping:
            fields[self._mapping["status"]] = MERGED_STATUS
        try:
            self._rest.patch(plan.retired.object_type, plan.retired.object_id, fields)
        except SalesforceError as exc:
            if exc.status == 404:  # the retired record is gone already: one live record remains
                return RecordResult("done", survivor=plan.survivor)
            return self._record_failure(exc)
        except requests.RequestException as exc:
            return RecordResult("retryable", f"Salesforce unreachable: {type(exc).__name__}")
        return RecordResult("done", survivor=plan.survivor, retired=plan.retired)

    def _record_failure(self, exc: SalesforceError) -> RecordResult:
        message = f"Salesforce {exc.status}: {_errors_text(exc.content)}"
        codes = _error_codes(exc.content)
        if exc.status not in (400, 422) or codes & _RETRYABLE_CODES:  # e.g. 404: a wrong instance URL or version
            return RecordResult("retryable", message, LIMIT_BACKOFF_S if "REQUEST_LIMIT_EXCEEDED" in codes else None)
        return RecordResult("permanent", message)

    def _failure(self, lead: CrmLeadRecord, exc: SalesforceError) -> SyncResult:
        failed = self._record_failure(exc)
        if failed.outcome == "retryable":
            # REQUEST_LIMIT_EXCEEDED is Salesforce's 429: pacing, not charged to the retry budget
            throttled = failed.retry_after == LIMIT_BACKOFF_S
            return SyncResult.retryable(lead, failed.message or "", failed.retry_after, throttled=throttled)
        return SyncResult.permanent(lead, failed.message or "")

    def _read_usage(self) -> None:
        usage = self._client.api_usage.get("api-usage")
        if usage is None:
            return
        self.usage = (usage.used, usage.total)
        if self._on_usage is not None:
            self._on_usage(usage.used, usage.total)

    def _near_limit(self) -> bool:
        return self.usage is not None and self.usage[1] > 0 and self.usage[0] >= self._backoff_ratio * self.usage[1]


def _result(lead: CrmLeadRecord, item: Any, sobject: str) -> SyncResult:
    if isinstance(item, dict) and item.get("success"):
        return SyncResult.ok(lead, CrmObjectRef(str(item["id"]), sobject) if item.get("id") else None)
    errors = item.get("errors", []) if isinstance(item, dict) else []
    message = _errors_text(errors)
    codes = {str(e.get("statusCode")) for e in errors if isinstance(e, dict)}
    if codes & _RETRYABLE_CODES:
        return SyncResult.retryable(lead, message)
    return SyncResult.permanent(lead, message)


def _error_codes(content: Any) -> set[str]:
    items = content if isinstance(content, list) else [content]
    return {str(i.get("errorCode") or i.get("statusCode")) for i in items if isinstance(i, dict)}


def _errors_text(content: Any) -> str:
    """Salesforce's ``[{"statusCode"|"errorCode", "message", "fields"}]`` as one line for the ledger."""
    items = content if isinstance(content, list) else [content]
    parts = []
    for i in items:
        if isinstance(i, dict):
            code = i.get("statusCode") or i.get("errorCode") or "ERROR"
            fields = f" {i['fields']}" if i.get("fields") else ""
            parts.append(f"{code}: {i.get('message', '')}{fields}")
        elif i:
            parts.append(str(i)[:300])
    return "; ".join(parts)[:1000] or "rejected"
