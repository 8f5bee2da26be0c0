"""Salesforce's REST API as documented, over HTTPS: Bearer session, ``Sforce-Limit-Info`` on every answer, JSON
error arrays. Routes: sObject Collections upsert by external id and update by id (≤200 records, one result per
record in order, ``success``/``errors``), SOQL queries (the ``SELECT … FROM … WHERE f IN (…) AND f = v`` subset
crm-sync sends), single-record ``PATCH``/``DELETE`` (204; an unknown or deleted id is 404 ``ENTITY_IS_DELETED``),
``describe`` and the Tooling API's ``CustomField`` create.

Strict per object, like an org: Lead and Contact have their own standard fields (a field the object lacks fails
the whole request with ``INVALID_FIELD``), their own required fields and their own external-id fields. Records are
kept by id in ``state.records``; custom fields are all taken as defined unless ``state.extra["custom_fields"]``
(object → set of names) lists them, as ``crm setup`` would create them. ``state.extra["tooling_denied"]`` refuses
the Tooling API like a token without "Customize Application"."""

from __future__ import annotations

import itertools
import json
import re
import ssl
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

from peerscore_testkit.fake_servers import SALESFORCE_SESSION, FakeServer, _Handler

BASE = "/services/data/v59.0/"
_ids = itertools.count(1)
_COMMON = {"Id", "Email", "FirstName", "LastName", "Title", "Phone", "LeadSource", "Description", "CreatedDate"}
STANDARD_FIELDS = {
    "Lead": _COMMON
    | {"Company", "Website", "Country", "Status", "Rating", "City", "Industry", "NumberOfEmployees"}
    | {"IsConverted"},
    "Contact": _COMMON | {"AccountId", "MailingCountry", "MailingCity", "Department", "Birthdate"},
    "Account": {"Id", "Name", "Website", "CreatedDate"},
}
REQUIRED = {"Lead": ("LastName", "Company"), "Contact": ("LastName",)}
EXTERNAL_IDS = {"Lead": {"Peerscore_Person_Key__c"}, "Contact": {"Peerscore_Person_Key__c", "Peerscore_Key__c"}}
ID_PREFIX = {"Lead": "00Q", "Contact": "003", "Account": "001"}
_NOT_FOUND = [{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}]


def add_record(state: Any, sobject: str, **fields: Any) -> str:
    """A record created in the org by someone else (sales, a form, another integration); returns its id."""
    object_id = f"{ID_PREFIX[sobject]}{next(_ids):012d}"
    created = fields.pop("CreatedDate", datetime.now(UTC).isoformat())
    state.records[object_id] = {"_id": object_id, "_type": sobject, "CreatedDate": created, **fields}
    if sobject == "Lead":
        state.records[object_id].setdefault("IsConverted", False)
    return object_id


def records_of(state: Any, sobject: str) -> list[dict[str, Any]]:
    return [r for r in state.records.values() if r["_type"] == sobject]


def _route(h: _Handler, raw: bytes) -> None:
    state = h.server.state
    used = len(state.requests) + 1
    limit = {"Sforce-Limit-Info": f"api-usage={state.extra.get('used', used)}/{state.extra.get('total', 15000)}"}
    state.over_limit()
    if h.headers.get("Authorization") != f"Bearer {SALESFORCE_SESSION}":
        h.reply(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        return
    url = urlsplit(h.path)
    path = url.path.removeprefix(BASE).rstrip("/")
    body = json.loads(raw) if raw else {}
    parts = path.split("/")
    if h.command == "GET" and path == "query":
        _query(h, parse_qs(url.query).get("q", [""])[0], limit)
    elif h.command == "PATCH" and path == "composite/sobjects":
        _collection(h, body, limit, None)
    elif h.command == "PATCH" and len(parts) == 4 and parts[:2] == ["composite", "sobjects"]:
        _collection(h, body, limit, (parts[2], parts[3]))
    elif len(parts) == 3 and parts[0] == "sobjects" and parts[2] == "describe" and h.command == "GET":
        _describe(h, parts[1], limit)
    elif len(parts) == 3 and parts[0] == "sobjects" and h.command in ("PATCH", "DELETE"):
        _one(h, parts[1], parts[2], body, limit)
    elif h.command == "POST" and path == "tooling/sobjects/CustomField":
        _custom_field(h, body, limit)
    else:
        h.reply(404, [{"message": f"The requested resource does not exist: {h.path}", "errorCode": "NOT_FOUND"}])


def _exists(state: Any, sobject: str, field: str) -> bool:
    if field.endswith("__c"):
        defined = state.extra.get("custom_fields")
        return defined is None or field in defined.get(sobject, set())
    return field in STANDARD_FIELDS.get(sobject, set())


def _unknown_field(state: Any, records: list[dict[str, Any]]) -> str | None:
    for r in records:
        sobject = (r.get("attributes") or {}).get("type", "")
        for f in r:
            if f not in ("attributes", "id") and not _exists(state, sobject, f):
                return f"No such column '{f}' on sobject of type {sobject}"
    return None


def _collection(h: _Handler, body: dict[str, Any], limit: dict[str, str], upsert: tuple[str, str] | None) -> None:
    state = h.server.state
    records = body.get("records", [])
    if len(records) > 200:
        h.reply(400, [{"message": "Maximum number of records is 200", "errorCode": "EXCEEDED_ID_LIMIT"}], limit)
        return
    if upsert is not None and (upsert[0] not in EXTERNAL_IDS or upsert[1] not in EXTERNAL_IDS[upsert[0]]):
        message = f"Provided external ID field does not exist or is not accessible: {upsert[1]}"
        h.reply(404, [{"message": message, "errorCode": "NOT_FOUND"}], limit)
        return
    unknown = _unknown_field(state, records)
    if unknown:
        h.reply(400, [{"message": unknown, "errorCode": "INVALID_FIELD"}], limit)
        return
    with state.lock:
        state.batch_sizes.append(len(records))
        answer = [_write(state, r, upsert) for r in records]
    h.reply(200, answer, limit)


def _write(state: Any, r: dict[str, Any], upsert: tuple[str, str] | None) -> dict[str, Any]:
    sobject = (r.get("attributes") or {}).get("type", "")
    fields = {k: v for k, v in r.items() if k not in ("attributes", "id")}
    email = str(fields.get("Email", ""))
    if upsert is not None:
        key = fields.get(upsert[1])
        found = [x for x in records_of(state, upsert[0]) if key and x.get(upsert[1]) == key]
        target = found[0] if found else None
        missing = [f for f in REQUIRED[upsert[0]] if not fields.get(f)]
        if sobject != upsert[0] or not key or missing:
            return _failed("REQUIRED_FIELD_MISSING", "Required fields are missing", missing)
    else:
        target = state.records.get(str(r.get("id", "")))
        if target is None or target["_type"] != sobject:
            return _failed("ENTITY_IS_DELETED", "entity is deleted", [])
        if target.get("IsConverted"):
            return _failed("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
    if "Email" in fields and ("@" not in email or email in state.rejected):
        return _failed("INVALID_EMAIL_ADDRESS", state.rejected.get(email, f"invalid email address: {email}"), ["Email"])
    created = target is None
    object_id = add_record(state, sobject) if target is None else target["_id"]
    state.records[object_id].update(fields)
    state.accepted.append((object_id, str(fields.get("Peerscore_Version__c", ""))))
    return {"id": object_id, "success": True, "errors": [], "created": created}


def _failed(code: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields}]}


_SOQL = re.compile(r"^SELECT (?P<fields>[\w, ]+) FROM (?P<obj>\w+) WHERE (?P<where>.+)$", re.S)
_IN = re.compile(r"^(\w+) IN \((.*)\)$", re.S)
_EQ = re.compile(r"^(\w+) = (.+)$", re.S)
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _value(text: str) -> Any:
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    match = _LITERAL.fullmatch(text)
    if match is None:
        raise ValueError(f"unexpected token {text!r}")
    return re.sub(r"\\(.)", r"\1", match[1])


def _condition(clause: str) -> tuple[str, list[Any]]:
    clause = clause.strip()
    found = _IN.match(clause)
    if found:
        return found[1], [_value(m[0]) for m in _LITERAL.finditer(found[2])]
    found = _EQ.match(clause)
    if found:
        return found[1], [_value(found[2])]
    raise ValueError(f"unexpected expecting a condition near {clause[:40]!r}")


def _query(h: _Handler, soql: str, limit: dict[str, str]) -> None:
    """The subset crm-sync sends: conditions joined by AND; string and boolean literals; Email compared
    case-insensitively as Salesforce does."""
    state = h.server.state
    state.extra.setdefault("queries", []).append(soql)
    match = _SOQL.match(soql.strip())
    try:
        if match is None or match["obj"] not in STANDARD_FIELDS:
            raise ValueError("unexpected token")
        sobject = match["obj"]
        fields = [f.strip() for f in match["fields"].split(",")]
        conditions = [_condition(c) for c in match["where"].split(" AND ")]
        for f in [*fields, *(c[0] for c in conditions)]:
            if not _exists(state, sobject, f):
                h.reply(400, [{"message": f"No such column '{f}' on entity '{sobject}'", "errorCode": "INVALID_FIELD"}])
                return
    except ValueError as exc:
        h.reply(400, [{"message": str(exc), "errorCode": "MALFORMED_QUERY"}], limit)
        return

    def matches(r: dict[str, Any]) -> bool:
        for name, values in conditions:
            value = r.get("_id") if name == "Id" else r.get(name)
            if name == "Email":
                if str(value or "").lower() not in {str(v).lower() for v in values}:
                    return False
            elif value not in values:
                return False
        return True

    with state.lock:
        found = [r for r in records_of(state, sobject) if matches(r)]
    rows = [
        {"attributes": {"type": sobject, "url": f"{BASE}sobjects/{sobject}/{r['_id']}"}}
        | {f: (r["_id"] if f == "Id" else r.get(f)) for f in fields}
        for r in found
    ]
    h.reply(200, {"totalSize": len(rows), "done": True, "records": rows}, limit)


def _one(h: _Handler, sobject: str, object_id: str, body: dict[str, Any], limit: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        record = state.records.get(object_id)
        if record is None or record["_type"] != sobject:
            h.reply(404, _NOT_FOUND, limit)
            return
        if h.command == "DELETE":
            del state.records[object_id]
            state.extra.setdefault("deleted", []).append(object_id)
            h.reply(204, None, limit)
            return
        unknown = _unknown_field(state, [{"attributes": {"type": sobject}, **body}])
        if unknown:
            h.reply(400, [{"message": unknown, "errorCode": "INVALID_FIELD"}], limit)
            return
        record.update(body)
    h.reply(204, None, limit)


def _describe(h: _Handler, sobject: str, limit: dict[str, str]) -> None:
    state = h.server.state
    if sobject not in STANDARD_FIELDS:
        h.reply(404, [{"message": f"The requested resource does not exist: {sobject}", "errorCode": "NOT_FOUND"}])
        return
    custom = state.extra.get("custom_fields", {}).get(sobject, set())
    fields = [{"name": f, "custom": f.endswith("__c")} for f in sorted(STANDARD_FIELDS[sobject] | set(custom))]
    h.reply(200, {"name": sobject, "fields": fields}, limit)


def _custom_field(h: _Handler, body: dict[str, Any], limit: dict[str, str]) -> None:
    state = h.server.state
    if state.extra.get("tooling_denied"):
        message = "insufficient access rights on cross-reference id"
        h.reply(403, [{"message": message, "errorCode": "INSUFFICIENT_ACCESS"}], limit)
        return
    sobject, _, name = str(body.get("FullName", "")).partition(".")
    metadata = body.get("Metadata") or {}
    if (
        sobject not in STANDARD_FIELDS
        or not name.endswith("__c")
        or not metadata.get("type")
        or not metadata.get("label")
    ):
        h.reply(
            400, [{"message": "FullName, Metadata.type and Metadata.label are required", "errorCode": "INVALID_INPUT"}]
        )
        return
    defined = state.extra.setdefault("custom_fields", {}).setdefault(sobject, set())
    if name in defined:
        h.reply(
            400,
            [
                {
                    "message": f"There is already a field named {name} on {sobject}.",
                    "errorCode": "DUPLICATE_DEVELOPER_NAME",
                }
            ],
        )
        return
    defined.add(name)
    h.reply(201, {"id": f"00N{next(_ids):012d}", "success": True, "errors": []}, limit)


def salesforce_server(ca: trustme.CA) -> FakeServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return FakeServer(_route, context)
