"""Salesforce's sObject Collections upsert as documented, over HTTPS: Bearer session, ≤200 records, one result per
record in order (``success``/``errors``), ``Sforce-Limit-Info`` on every answer, JSON error arrays."""

from __future__ import annotations

import itertools
import json
import ssl
from typing import Any

import trustme

from tests.unit.crm_sync.fake_servers import SALESFORCE_SESSION, FakeServer, _Handler

PATH = "/services/data/v59.0/composite/sobjects/Lead/Peerscore_Person_Key__c"
_ids = itertools.count(1)


def _route(h: _Handler, raw: bytes) -> None:
    state = h.server.state
    used = len(state.requests) + 1
    limit = {"Sforce-Limit-Info": f"api-usage={state.extra.get('used', used)}/{state.extra.get('total', 15000)}"}
    state.over_limit()
    if h.headers.get("Authorization") != f"Bearer {SALESFORCE_SESSION}":
        h.reply(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        return
    if h.command != "PATCH" or h.path != PATH:
        h.reply(404, [{"message": f"The requested resource does not exist: {h.path}", "errorCode": "NOT_FOUND"}])
        return
    body = json.loads(raw)
    records = body.get("records", [])
    if len(records) > 200:
        h.reply(400, [{"message": "Maximum number of records is 200", "errorCode": "EXCEEDED_ID_LIMIT"}], limit)
        return
    answer: list[dict[str, Any]] = []
    with state.lock:
        state.batch_sizes.append(len(records))
        for r in records:
            key, email = r.get("Peerscore_Person_Key__c"), str(r.get("Email", ""))
            if r.get("attributes", {}).get("type") != "Lead" or not key or not r.get("LastName"):
                answer.append(_failed("REQUIRED_FIELD_MISSING", "Required fields are missing", ["LastName"]))
            elif "@" not in email or email in state.rejected:
                message = state.rejected.get(email, f"invalid email address: {email}")
                answer.append(_failed("INVALID_EMAIL_ADDRESS", message, ["Email"]))
            else:
                created = key not in state.records
                state.records[key] = {**state.records.get(key, {"_id": f"00Q{next(_ids):012d}"}), **r}
                state.accepted.append((key, str(r.get("Peerscore_Version__c", ""))))
                answer.append({"id": state.records[key]["_id"], "success": True, "errors": [], "created": created})
    h.reply(200, answer, limit)


def _failed(code: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields}]}


def salesforce_server(ca: trustme.CA) -> FakeServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return FakeServer(_route, context)
