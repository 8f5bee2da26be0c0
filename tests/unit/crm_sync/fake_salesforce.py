"""Salesforce's sObject Collections upsert as documented, over HTTPS: Bearer session, ≤200 records, one result per
record in order (``success``/``errors``), ``Sforce-Limit-Info`` on every answer, JSON error arrays.

Strict per object, like an org: Lead and Contact have their own standard fields (a field the object lacks fails
the whole request with ``INVALID_FIELD``), their own required fields and their own external-id fields."""

from __future__ import annotations

import itertools
import json
import re
import ssl
from typing import Any

import trustme

from tests.unit.crm_sync.fake_servers import SALESFORCE_SESSION, FakeServer, _Handler

PATH = re.compile(r"^/services/data/v59\.0/composite/sobjects/(\w+)/(\w+)$")
_ids = itertools.count(1)
_COMMON = {"Email", "FirstName", "LastName", "Title", "Phone", "LeadSource", "Description"}
STANDARD_FIELDS = {
    "Lead": _COMMON | {"Company", "Website", "Country", "Status", "City", "Industry", "NumberOfEmployees"},
    "Contact": _COMMON | {"AccountId", "MailingCountry", "MailingCity", "Department", "Birthdate"},
}
REQUIRED = {"Lead": ("LastName", "Company"), "Contact": ("LastName",)}
EXTERNAL_IDS = {"Lead": {"Peerscore_Person_Key__c"}, "Contact": {"Peerscore_Person_Key__c", "Peerscore_Key__c"}}
ID_PREFIX = {"Lead": "00Q", "Contact": "003"}


def _route(h: _Handler, raw: bytes) -> None:
    state = h.server.state
    used = len(state.requests) + 1
    limit = {"Sforce-Limit-Info": f"api-usage={state.extra.get('used', used)}/{state.extra.get('total', 15000)}"}
    state.over_limit()
    if h.headers.get("Authorization") != f"Bearer {SALESFORCE_SESSION}":
        h.reply(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        return
    route = PATH.match(h.path)
    if h.command != "PATCH" or route is None or route[1] not in STANDARD_FIELDS:
        h.reply(404, [{"message": f"The requested resource does not exist: {h.path}", "errorCode": "NOT_FOUND"}])
        return
    sobject, external_id = route[1], route[2]
    if external_id not in EXTERNAL_IDS[sobject]:
        message = f"Provided external ID field does not exist or is not accessible: {external_id}"
        h.reply(404, [{"message": message, "errorCode": "NOT_FOUND"}], limit)
        return
    body = json.loads(raw)
    records = body.get("records", [])
    if len(records) > 200:
        h.reply(400, [{"message": "Maximum number of records is 200", "errorCode": "EXCEEDED_ID_LIMIT"}], limit)
        return
    unknown = sorted({f for r in records for f in r if f != "attributes" and not _exists(sobject, f)})
    if unknown:
        message = f"No such column '{unknown[0]}' on sobject of type {sobject}"
        h.reply(400, [{"message": message, "errorCode": "INVALID_FIELD"}], limit)
        return
    answer: list[dict[str, Any]] = []
    with state.lock:
        state.batch_sizes.append(len(records))
        for r in records:
            key, email = r.get(external_id), str(r.get("Email", ""))
            missing = [f for f in REQUIRED[sobject] if not r.get(f)]
            if r.get("attributes", {}).get("type") != sobject or not key or missing:
                answer.append(_failed("REQUIRED_FIELD_MISSING", "Required fields are missing", missing))
            elif "@" not in email or email in state.rejected:
                message = state.rejected.get(email, f"invalid email address: {email}")
                answer.append(_failed("INVALID_EMAIL_ADDRESS", message, ["Email"]))
            else:
                created = key not in state.records
                new_id = f"{ID_PREFIX[sobject]}{next(_ids):012d}"
                state.records[key] = {**state.records.get(key, {"_id": new_id, "_type": sobject}), **r}
                state.accepted.append((key, str(r.get("Peerscore_Version__c", ""))))
                answer.append({"id": state.records[key]["_id"], "success": True, "errors": [], "created": created})
    h.reply(200, answer, limit)


def _exists(sobject: str, field: str) -> bool:
    """Custom fields (``__c``) are taken as defined in the org; standard ones must exist on the object."""
    return field.endswith("__c") or field in STANDARD_FIELDS[sobject]


def _failed(code: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields}]}


def salesforce_server(ca: trustme.CA) -> FakeServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return FakeServer(_route, context)
