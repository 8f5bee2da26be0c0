"""HubSpot through the official ``hubspot-api-client``: contacts batch upsert by email, company association.

Why it is shaped this way:

* One ``SlidingWindowLimiter`` gates *every* request (upserts, company search/create, associations) because
  HubSpot counts them all against the same private-app limit (default 190 per 10 s here).
* 429 → every lead of the call is retryable *and throttled* with ``Retry-After`` (or HubSpot's window length) and
  the limiter pauses, so the worker's partition waits instead of spinning, without charging the retry budget.
  5xx, timeouts and connection errors are retryable too; 401/403 are retryable with a long wait (a rotated token
  must not turn leads into failures).
* 400 refuses the *whole* batch for one bad input, so the batch is bisected until the bad lead is alone and
  gets HubSpot's message as its permanent failure. 207 reports errors per input; they are matched by email.
* Company association is a second step after the contact is written: when it fails for now, the contact stays
  synced, reported with ``association_pending``; the handler keeps it and retries it on its own (:meth:`associate`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
import urllib3
from hubspot import HubSpot  # type: ignore[import-untyped]
from hubspot.crm import companies, contacts  # type: ignore[import-untyped]
from hubspot.crm.associations import v4 as associations_v4  # type: ignore[import-untyped]

from peerscore.crm_sync.adapters.base import (
    AssociationRef,
    CrmObjectRef,
    PersonRecord,
    RecordResult,
    SyncResult,
    upsert_in_chunks,
)
from peerscore.crm_sync.adapters.limits import SlidingWindowLimiter, retry_after_seconds
from peerscore.crm_sync.domain.accounts import AccountRollup, hubspot_company_properties
from peerscore.crm_sync.domain.mapping import CrmLeadRecord
from peerscore.crm_sync.domain.matching import plan_merge
from peerscore.crm_sync.domain.native import NativeFields
from peerscore.crm_sync.domain.payloads import hubspot_upsert_input

log = structlog.get_logger(__name__)

MAX_BATCH = 100
OBJECT_TYPE = "contact"
AUTH_RETRY_S = 60.0
_CONTENT_ERRORS = frozenset({400, 409, 413, 422})
_RETRYABLE_CATEGORIES = frozenset({"RATE_LIMITS", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"})
# Each SDK sub-package generates its own ApiException class.
_API_ERRORS = (contacts.ApiException, companies.ApiException, associations_v4.ApiException)
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (urllib3.exceptions.HTTPError, OSError)


class _CallFailed(Exception):
    """A whole request failed; ``retryable`` says whether waiting can help."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
        throttled: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.throttled = throttled


def make_hubspot_client(token: str, host: str) -> HubSpot:
    """The SDK client; ``host`` is the SDK's ``Configuration.host`` (tests point it at 127.0.0.1).

    SDK retries are off: the worker owns retrying, with the ledger's budget and the partition paused.
    """
    return HubSpot(access_token=token, host=host.rstrip("/"), retry=urllib3.Retry(total=0, redirect=0))


class HubSpotAdapter:
    name = "hubspot"

    def __init__(
        self,
        client: HubSpot,
        mapping: Mapping[str, str],
        limiter: SlidingWindowLimiter,
        timeout_s: float = 10.0,
        native: NativeFields = NativeFields(),
    ) -> None:
        if mapping.get("email") != "email":
            raise ValueError("HubSpot upserts by email: the field mapping must map 'email' to 'email'")
        self._mapping = dict(mapping)
        self._limiter = limiter
        self._timeout = timeout_s
        self._native = native
        # Building an API object builds a connection pool: do it once, not per call.
        self._contacts = client.crm.contacts.batch_api
        self._contact_api = client.crm.contacts.basic_api
        self._contact_search = client.crm.contacts.search_api
        self._search = client.crm.companies.search_api
        self._companies = client.crm.companies.basic_api
        self._company_batch = client.crm.companies.batch_api
        self._associations = client.crm.associations.v4.batch_api
        self._company_ids: dict[str, str] = {}

    def upsert(self, leads: Sequence[CrmLeadRecord]) -> list[SyncResult]:
        return upsert_in_chunks(leads, MAX_BATCH, self._upsert_chunk)

    def _upsert_chunk(self, leads: list[CrmLeadRecord]) -> list[SyncResult]:
        try:
            body = self._call(self._post_contacts, leads)
        except _CallFailed as exc:
            if exc.retryable:
                return [
                    SyncResult.retryable(lead, str(exc), exc.retry_after, throttled=exc.throttled) for lead in leads
                ]
            if len(leads) == 1:
                return [SyncResult.permanent(leads[0], str(exc))]
            middle = len(leads) // 2  # isolate the input HubSpot refused
            return self._upsert_chunk(leads[:middle]) + self._upsert_chunk(leads[middle:])
        ids, errors = _index_response(body)
        results = [_result_for(lead, ids, errors) for lead in leads]
        return self._associate(leads, results)

    def _post_contacts(self, leads: list[CrmLeadRecord]) -> Any:
        """Plain JSON both ways through the SDK call: its models build a ``Configuration`` per object and parse two
        datetimes per contact with dateutil, which costs more than the request itself (see ``bench/crm.py``).
        The SDK serialises dicts as they are, and ``_preload_content=False`` hands back the raw answer."""
        response = self._contacts.upsert_with_http_info(
            {"inputs": [hubspot_upsert_input(lead, self._mapping, self._native) for lead in leads]},
            _request_timeout=self._timeout,
            _preload_content=False,
        )
        self._observe_headers(response.headers)
        return json.loads(response.data)

    def _associate(self, leads: list[CrmLeadRecord], results: list[SyncResult]) -> list[SyncResult]:
        """Associate written contacts with their company. The contact is synced whatever happens here: a failure
        for now is reported as ``association_pending`` (the handler retries it alone), a permanent one is logged."""
        wanted = [
            (i, AssociationRef(lead.person_key, result.object.object_id if result.object else "", lead.domain.lower()))
            for i, (lead, result) in enumerate(zip(leads, results, strict=True))
            if result.outcome == "ok" and lead.domain
        ]
        answered = self.associate([a for _, a in wanted])
        for i, ref in wanted:
            company = answered.get(ref.person_key)
            obj = CrmObjectRef(ref.contact_id, OBJECT_TYPE, company)
            later = None if ref.person_key in answered else ref.domain
            results[i] = SyncResult(leads[i].person_key, leads[i].version, "ok", object=obj, association_pending=later)
        return results

    def associate(self, pending: Sequence[AssociationRef]) -> dict[str, str | None]:
        """See :class:`~peerscore.crm_sync.adapters.base.CompanyAssociations`: made, refused for good, or absent."""
        answered: dict[str, str | None] = {}
        companies: dict[str, str] = {}
        for ref in pending:
            try:
                companies[ref.person_key] = self._company_id(ref.domain)
            except _CallFailed as exc:
                if not exc.retryable:
                    log.warning("hubspot_company_failed", person_key=ref.person_key, error=str(exc)[:300])
                    answered[ref.person_key] = None
        pairs = [ref for ref in pending if ref.person_key in companies]
        if not pairs:
            return answered
        inputs = [
            associations_v4.PublicDefaultAssociationMultiPost(
                _from=associations_v4.PublicObjectId(id=ref.contact_id),
                to=associations_v4.PublicObjectId(id=companies[ref.person_key]),
            )
            for ref in pairs
        ]
        try:
            self._call(
                lambda: self._associations.create_default(
                    "contacts",
                    "companies",
                    associations_v4.BatchInputPublicDefaultAssociationMultiPost(inputs=inputs),
                    _request_timeout=self._timeout,
                )
            )
        except _CallFailed as exc:
            if not exc.retryable:
                log.warning("hubspot_association_failed", associations=len(pairs), error=str(exc)[:300])
                answered.update({ref.person_key: None for ref in pairs})
            return answered
        return answered | {ref.person_key: companies[ref.person_key] for ref in pairs}

    def _company_id(self, domain: str) -> str:
        if domain in self._company_ids:
            return self._company_ids[domain]
        search = companies.PublicObjectSearchRequest(
            filter_groups=[
                companies.FilterGroup(filters=[companies.Filter(property_name="domain", operator="EQ", value=domain)])
            ],
            properties=["domain"],
            limit=1,
        )
        found = self._call(lambda: self._search.do_search(search, _request_timeout=self._timeout))
        if found.results:
            company_id = str(found.results[0].id)
        else:
            create = companies.SimplePublicObjectInputForCreate(properties={"domain": domain, "name": domain})
            company_id = str(self._call(lambda: self._companies.create(create, _request_timeout=self._timeout)).id)
        self._company_ids[domain] = company_id
        return company_id

    def erase(self, person: PersonRecord) -> RecordResult:
        """GDPR delete (``POST /crm/v3/objects/contacts/gdpr-delete``): the contact and its content, for good.

        A person synced before crm-sync kept contact ids is found by Peerscore's key property first."""
        contact_id = person.object.object_id if person.object is not None else None
        if contact_id is None:
            try:
                contact_id = self._contact_by_key(person.person_key)
            except _CallFailed as exc:
                return _record_failure(exc)
            if contact_id is None:
                return RecordResult("gone", "no HubSpot contact carries this person key")
        body = contacts.PublicGdprDeleteInput(object_id=contact_id)
        try:
            self._call(lambda: self._contact_api.purge(body, _request_timeout=self._timeout))
        except _CallFailed as exc:
            if exc.status == 404:
                return RecordResult("gone", str(exc))
            return _record_failure(exc)
        return RecordResult("done", None if person.object is not None else f"found by person key: {contact_id}")

    def update_accounts(self, rollups: Sequence[AccountRollup]) -> RecordResult:
        """The roll-ups as company properties (``POST /crm/v3/objects/companies/batch/update``, ≤100 per call)."""
        inputs = [{"id": r.company_id, "properties": hubspot_company_properties(r)} for r in rollups]
        for start in range(0, len(inputs), MAX_BATCH):
            body = {"inputs": inputs[start : start + MAX_BATCH]}
            try:
                self._call(
                    lambda b=body: self._company_batch.update_with_http_info(
                        b, _request_timeout=self._timeout, _preload_content=False
                    )
                )
            except _CallFailed as exc:
                return _record_failure(exc)
        return RecordResult("done")

    def _contact_by_key(self, person_key: str) -> str | None:
        prop = self._mapping.get("person_key")
        if prop is None:
            return None
        search = contacts.PublicObjectSearchRequest(
            filter_groups=[
                contacts.FilterGroup(filters=[contacts.Filter(property_name=prop, operator="EQ", value=person_key)])
            ],
            properties=[prop],
            limit=1,
        )
        found = self._call(lambda: self._contact_search.do_search(search, _request_timeout=self._timeout))
        return str(found.results[0].id) if found.results else None

    def merge(self, target: PersonRecord, source: PersonRecord) -> RecordResult:
        """``POST /crm/v3/objects/contacts/merge`` when the two people have two contacts; the answer is the
        merged contact (its id may be new), which becomes the target's record."""
        plan = plan_merge(target.object, source.object)
        if plan.survivor is None or plan.retired is None:
            return RecordResult("done", survivor=plan.survivor)
        body = contacts.PublicMergeInput(
            primary_object_id=plan.survivor.object_id, object_id_to_merge=plan.retired.object_id
        )
        try:
            merged = self._call(lambda: self._contact_api.merge(body, _request_timeout=self._timeout))
        except _CallFailed as exc:
            return _record_failure(exc)
        survivor = CrmObjectRef(str(merged.id), OBJECT_TYPE, plan.survivor.company_id or plan.retired.company_id)
        return RecordResult("done", survivor=survivor)

    def _call(self, request: Any, *args: Any) -> Any:
        """One rate-limited request; HTTP and transport failures become :class:`_CallFailed`."""
        self._limiter.acquire()
        try:
            response = request(*args)
        except _API_ERRORS as exc:
            raise self._failure(exc.status, exc.reason, exc.body, exc.headers) from exc
        except _TRANSPORT_ERRORS as exc:
            raise _CallFailed(f"HubSpot unreachable: {type(exc).__name__}", retryable=True) from exc
        return response

    def _failure(self, status: int | None, reason: str | None, body: Any, headers: Any) -> _CallFailed:
        message = f"HubSpot {status}: {_message(body) or reason}"
        hdrs = dict(headers or {})
        if status == 429:
            wait = retry_after_seconds(hdrs, default=1.0)
            self._limiter.pause(wait or 1.0)
            return _CallFailed(message, retryable=True, retry_after=wait, status=status, throttled=True)
        if status in (401, 403):
            return _CallFailed(message, retryable=True, retry_after=AUTH_RETRY_S)
        # Only answers about the request's content are the leads' fault; anything else (404 from a wrong
        # HUBSPOT_HOST, 5xx, 408…) is the deployment's or HubSpot's and must not fail leads for good.
        retryable = status not in _CONTENT_ERRORS
        return _CallFailed(message, retryable=retryable, retry_after=retry_after_seconds(hdrs), status=status)

    def _observe_headers(self, headers: Any) -> None:
        """HubSpot reports the window's remaining requests: when none remain, wait for the window to roll."""
        hdrs = {k.lower(): v for k, v in dict(headers or {}).items()}
        remaining = hdrs.get("x-hubspot-ratelimit-remaining")
        if remaining is not None and remaining.strip() == "0":
            self._limiter.pause(retry_after_seconds(hdrs, default=1.0) or 1.0)


def _index_response(body: dict[str, Any]) -> tuple[dict[str, str], dict[str, tuple[str, bool]]]:
    """Contact ids by email, and per-email errors (message, retryable) from a 200/207 JSON answer."""
    ids = {str(r.get("properties", {}).get("email", "")).lower(): str(r["id"]) for r in body.get("results", [])}
    errors: dict[str, tuple[str, bool]] = {}
    for error in body.get("errors", []):
        context = error.get("context") or {}
        category = str(error.get("category", "ERROR"))
        for email in context.get("ids", []) or context.get("emails", []):
            errors[str(email).lower()] = (f"{category}: {error.get('message')}", category in _RETRYABLE_CATEGORIES)
    return ids, errors


def _result_for(lead: CrmLeadRecord, ids: dict[str, str], errors: dict[str, tuple[str, bool]]) -> SyncResult:
    email = lead.email.lower()
    if email in errors:
        message, retryable = errors[email]
        return SyncResult.retryable(lead, message) if retryable else SyncResult.permanent(lead, message)
    if email in ids:
        return SyncResult.ok(lead, CrmObjectRef(ids[email], OBJECT_TYPE))
    return SyncResult.retryable(lead, "HubSpot returned no result for this contact")


def _record_failure(exc: _CallFailed) -> RecordResult:
    return RecordResult("retryable" if exc.retryable else "permanent", str(exc), exc.retry_after)


def _message(body: Any) -> str | None:
    """HubSpot's own message from an error body (JSON ``{"message": …}``), for the ledger and the API."""
    if not body:
        return None
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return str(body)[:500]
    return str(data.get("message"))[:500] if isinstance(data, dict) and data.get("message") else str(data)[:500]
