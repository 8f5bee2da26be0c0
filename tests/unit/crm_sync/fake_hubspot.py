"""HubSpot's CRM v3/v4 endpoints as documented: Bearer token, ≤100 inputs per batch, 207 with per-input errors,
429 with ``Retry-After`` and ``X-HubSpot-RateLimit-*``, companies search/create, default associations, contacts batch
read (unknown ids are 207 errors) and deal → contact association reads (paged per deal; a deal without contacts is
a 207 error). Deals' contacts live in ``state.extra["deal_contacts"]`` (deal id → contact ids)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.unit.crm_sync.fake_servers import HUBSPOT_TOKEN, FakeServer, _Handler, _now

_ids = itertools.count(1001)


def _error(category: str, message: str, ids: list[str] | None = None) -> dict[str, Any]:
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {"ids": ids} if ids else {},
        "errors": [{"message": message}],
        "links": {},
    }


def _route(h: _Handler, raw: bytes) -> None:
    state = h.server.state
    if h.headers.get("Authorization") != f"Bearer {HUBSPOT_TOKEN}":
        h.reply(401, _error("INVALID_AUTHENTICATION", "Authentication credentials not found."))
        return
    calls, window = state.rate_limit or (190, 10.0)
    if state.over_limit():
        headers = {
            "Retry-After": str(max(int(window), 1)),
            "X-HubSpot-RateLimit-Max": str(calls),
            "X-HubSpot-RateLimit-Remaining": "0",
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window * 1000)),
        }
        body = {
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "category": "RATE_LIMITS",
            "policyName": "TEN_SECONDLY_ROLLING",
            "correlationId": "x",
        }
        h.reply(429, body, headers)
        return
    body = json.loads(raw or b"{}")
    path = h.path.split("?")[0]
    if path == "/crm/v3/objects/contacts/batch/upsert":
        _upsert(h, body)
    elif path == "/crm/v3/objects/contacts/batch/read":
        _read_contacts(h, body)
    elif path == "/crm/v4/associations/deals/contacts/batch/read":
        _read_deal_contacts(h, body)
    elif path == "/crm/v3/objects/companies/search":
        domain = body["filterGroups"][0]["filters"][0]["value"]
        companies = state.extra.setdefault("companies", {})
        found = [_object(companies[domain], {"domain": domain})] if domain in companies else []
        h.reply(200, {"total": len(found), "results": found})
    elif path == "/crm/v3/objects/companies":
        domain = body["properties"]["domain"]
        company_id = state.extra.setdefault("companies", {}).setdefault(domain, str(next(_ids)))
        h.reply(201, _object(company_id, {"domain": domain}))
    elif path == "/crm/v4/associations/contacts/companies/batch/associate/default":
        pairs = [(i["from"]["id"], i["to"]["id"]) for i in body["inputs"]]
        state.extra.setdefault("associations", set()).update(pairs)
        results = [
            {
                "from": {"id": f},
                "to": {"id": t},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279},
            }
            for f, t in pairs
        ]
        h.reply(200, {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()})
    else:
        h.reply(404, _error("OBJECT_NOT_FOUND", f"no route {path}"))


def _object(object_id: str, properties: dict[str, str]) -> dict[str, Any]:
    return {"id": object_id, "properties": properties, "createdAt": _now(), "updatedAt": _now(), "archived": False}


def _upsert(h: _Handler, body: dict[str, Any]) -> None:
    state = h.server.state
    inputs = body.get("inputs", [])
    if len(inputs) > 100:
        h.reply(400, _error("VALIDATION_ERROR", f"Batch input size {len(inputs)} exceeds the limit of 100"))
        return
    results, errors = [], []
    with state.lock:
        state.batch_sizes.append(len(inputs))
        for item in inputs:
            email = str(item.get("id", ""))
            if item.get("idProperty") != "email" or "@" not in email:
                errors.append(_error("VALIDATION_ERROR", f"Invalid email {email!r}", [email]))
                continue
            if email in state.rejected:
                errors.append(_error("VALIDATION_ERROR", state.rejected[email], [email]))
                continue
            existing = state.records.get(email)
            is_new = existing is None
            props = {**(existing or {}), **item["properties"], "email": email}
            props.setdefault("_id", str(next(_ids)))
            state.records[email] = props
            state.accepted.append((email, props.get("peerscore_version", "")))
            visible = {k: v for k, v in props.items() if not k.startswith("_")}
            results.append({**_object(props["_id"], visible), "new": is_new})
    answer: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()}
    if errors:
        answer |= {"errors": errors, "numErrors": len(errors)}
    h.reply(207 if errors else 200, answer, {"X-HubSpot-RateLimit-Remaining": "100"})


def _batch_answer(h: _Handler, results: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
    answer: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()}
    if errors:
        answer |= {"errors": errors, "numErrors": len(errors)}
    h.reply(207 if errors else 200, answer)


def _read_contacts(h: _Handler, body: dict[str, Any]) -> None:
    inputs = body.get("inputs", [])
    if len(inputs) > 100:
        h.reply(400, _error("VALIDATION_ERROR", f"Batch input size {len(inputs)} exceeds the limit of 100"))
        return
    by_id = {r["_id"]: email for email, r in h.server.state.records.items()}
    ids = [str(i["id"]) for i in inputs]
    results = [_object(i, {"email": by_id[i]}) for i in ids if i in by_id]
    missing = [i for i in ids if i not in by_id]
    _batch_answer(
        h, results, [_error("OBJECT_NOT_FOUND", "Could not get some CONTACT objects", missing)] if missing else []
    )


def _read_deal_contacts(h: _Handler, body: dict[str, Any]) -> None:
    state = h.server.state
    page = int(state.extra.get("association_page_size", 500))
    deals: dict[str, list[str]] = state.extra.get("deal_contacts", {})
    results, errors = [], []
    for item in body.get("inputs", []):
        deal, start = str(item["id"]), int(item.get("after") or 0)
        contacts = deals.get(deal, [])
        if not contacts:
            errors.append(
                _error("OBJECT_NOT_FOUND", f"No contact is associated with deal {deal}.", [deal])
                | {"subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND"}
            )
            continue
        chunk = contacts[start : start + page]
        to = [{"toObjectId": int(c), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3}]} for c in chunk]
        result: dict[str, Any] = {"from": {"id": deal}, "to": to}
        if start + page < len(contacts):
            result["paging"] = {"next": {"after": str(start + page), "link": None}}
        results.append(result)
    _batch_answer(h, results, errors)


def hubspot_server() -> FakeServer:
    return FakeServer(_route)
