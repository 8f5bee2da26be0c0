"""The Salesforce REST calls besides the upsert: SOQL lookups by email, updates by id, deletes, and marks.

simple-salesforce raises ``SalesforceError`` (with ``status`` and Salesforce's JSON error array) for any non-2xx
answer; callers classify it. ``verify`` is passed explicitly on every call because requests lets
``REQUESTS_CA_BUNDLE`` override ``Session.verify``, and the session's own choice must win (tests, private CAs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from simple_salesforce import Salesforce

from peerscore.crm_sync.domain.matching import ExistingRecord

MATCH_BATCH = 100
"""Emails per SOQL query: keeps the GET URL far below Salesforce's URI length limit (16,384 characters)."""


def soql_quote(value: str) -> str:
    """A SOQL string literal: backslashes and quotes escaped (an email's local part may hold an apostrophe)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def email_query(sobject: str, emails: Sequence[str], external_id_field: str | None) -> str:
    """Records of ``sobject`` with one of ``emails``; converted Leads are read-only in Salesforce, so left out."""
    fields = ["Id", "Email", "CreatedDate", *([external_id_field] if external_id_field else [])]
    where = f"Email IN ({', '.join(soql_quote(e) for e in emails)})"
    if sobject == "Lead":
        where += " AND IsConverted = false"
    return f"SELECT {', '.join(fields)} FROM {sobject} WHERE {where}"  # noqa: S608 - SOQL; values quoted by soql_quote, names from settings


class SalesforceRest:
    """Thin calls on one simple-salesforce client; every call has the adapter's timeout."""

    def __init__(self, client: Salesforce, timeout_s: float) -> None:
        self._client = client
        self._timeout = timeout_s

    def _options(self) -> dict[str, Any]:
        return {"timeout": self._timeout, "verify": self._client.session.verify}

    def find_by_email(
        self, emails: Iterable[str], objects: Sequence[str], mapped_sobject: str, external_id_field: str
    ) -> list[ExistingRecord]:
        """The records of ``objects`` carrying ``emails``, in batches of :data:`MATCH_BATCH`. Objects are searched
        in the match rule's order and a later one only for the emails an earlier one did not have (the earlier
        object wins anyway), which saves a query per chunk when most buyers already have a Lead."""
        wanted = sorted({e.strip().lower() for e in emails if e.strip()})
        found: list[ExistingRecord] = []
        for sobject in objects:
            key_field = external_id_field if sobject == mapped_sobject else None
            matched = {r.email.strip().lower() for r in found}
            remaining = [e for e in wanted if e not in matched]
            for start in range(0, len(remaining), MATCH_BATCH):
                soql = email_query(sobject, remaining[start : start + MATCH_BATCH], key_field)
                answer = self._client.query_all(soql, **self._options())
                found.extend(
                    ExistingRecord(
                        sobject=sobject,
                        object_id=str(r["Id"]),
                        email=str(r.get("Email") or ""),
                        person_key=r.get(key_field) if key_field else None,
                        created=str(r.get("CreatedDate") or ""),
                    )
                    for r in answer.get("records", [])
                )
        return found

    def find_by_key(self, sobject: str, external_id_field: str, person_key: str) -> list[tuple[str, str]]:
        """(type, id) of the records whose external id is ``person_key``."""
        soql = f"SELECT Id FROM {sobject} WHERE {external_id_field} = {soql_quote(person_key)}"  # noqa: S608
        answer = self._client.query_all(soql, **self._options())
        return [(sobject, str(r["Id"])) for r in answer.get("records", [])]

    def update(self, records: list[dict[str, Any]]) -> Any:
        """sObject Collections update by id (``PATCH composite/sobjects``), one result per record in order."""
        body = {"allOrNone": False, "records": records}
        return self._client.restful("composite/sobjects", method="PATCH", json=body, **self._options())

    def upsert(self, sobject: str, external_id_field: str, records: list[dict[str, Any]]) -> Any:
        """sObject Collections upsert by an external-id field, one result per record in order."""
        body = {"allOrNone": False, "records": records}
        path = f"composite/sobjects/{sobject}/{external_id_field}"
        return self._client.restful(path, method="PATCH", json=body, **self._options())

    def delete(self, sobject: str, object_id: str) -> None:
        """``DELETE sobjects/{type}/{id}`` (204); an unknown or already deleted id raises with 404."""
        self._client.restful(f"sobjects/{sobject}/{object_id}", method="DELETE", **self._options())

    def patch(self, sobject: str, object_id: str, fields: dict[str, Any]) -> None:
        """``PATCH sobjects/{type}/{id}``: update some fields of one record (204)."""
        self._client.restful(f"sobjects/{sobject}/{object_id}", method="PATCH", json=fields, **self._options())
