"""HubSpot's CRM v3/v4 endpoints as documented: Bearer token, ≤100 inputs per batch, 207 with per-input errors,
429 with ``Retry-After`` and ``X-HubSpot-RateLimit-*``, companies search/create, default associations, contacts batch
read (unknown ids are 207 errors) and deal → contact association reads (paged per deal; a deal without contacts is
a 207 error). Deals' contacts live in ``state.extra["deal_contacts"]`` (deal id → contact ids); a callable in
``state.extra["refuse_one"]`` answering true makes a batch upsert refuse its first input for now (207)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from peerscore_testkit.fake_servers import HUBSPOT_TOKEN, FakeServer, _Handler, _now

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
    elif path == "/crm/v3/objects/companies/batch/update":
        _update_companies(h, body)
    elif path == "/crm/v3/objects/contacts/search":
        f = body["filterGroups"][0]["filters"][0]
        found = [r for r in state.records.values() if f["operator"] == "EQ" and r.get(f["propertyName"]) == f["value"]]
        results = [_object(r["_id"], {f["propertyName"]: f["value"]}) for r in found[: body.get("limit", 10)]]
        h.reply(200, {"total": len(found), "results": results})
    elif path == "/crm/v3/objects/contacts/gdpr-delete":
        _gdpr_delete(h, body)
    elif path == "/crm/v3/objects/contacts/merge":
        _merge(h, body)
    elif path.startswith("/crm/v3/properties/"):
        _properties(h, path.removeprefix("/crm/v3/properties/"), body)
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
    refuse_one = state.extra.get("refuse_one")  # flaky HubSpot: a 207 refusing one input for now
    with state.lock:
        state.batch_sizes.append(len(inputs))
        for n, item in enumerate(inputs):
            email = str(item.get("id", ""))
            if n == 0 and refuse_one is not None and refuse_one():
                errors.append(_error("INTERNAL_ERROR", "Something went wrong, please retry", [email]))
                continue
            if item.get("idProperty") != "email" or "@" not in email:
                errors.append(_error("VALIDATION_ERROR", f"Invalid email {email!r}", [email]))
                continue
            if email in state.rejected:
                errors.append(_error("VALIDATION_ERROR", state.rejected[email], [email]))
                continue
            email = state.extra.get("additional_emails", {}).get(email, email)  # a merged contact's other email
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


def _update_companies(h: _Handler, body: dict[str, Any]) -> None:
    """Company properties by company id (``state.extra["company_properties"]``); unknown ids are 207 errors."""
    state = h.server.state
    inputs = body.get("inputs", [])
    if len(inputs) > 100:
        h.reply(400, _error("VALIDATION_ERROR", f"Batch input size {len(inputs)} exceeds the limit of 100"))
        return
    with state.lock:
        known = set(state.extra.get("companies", {}).values())
        stored = state.extra.setdefault("company_properties", {})
        results, missing = [], []
        for item in inputs:
            if str(item["id"]) not in known:
                missing.append(str(item["id"]))
                continue
            stored[str(item["id"])] = {**stored.get(str(item["id"]), {}), **item["properties"]}
            results.append(_object(str(item["id"]), stored[str(item["id"])]))
    errors = [_error("OBJECT_NOT_FOUND", "Could not get some COMPANY objects", missing)] if missing else []
    _batch_answer(h, results, errors)


def _by_id(state: Any, contact_id: str) -> str | None:
    return next((email for email, r in state.records.items() if r["_id"] == contact_id), None)


def _gdpr_delete(h: _Handler, body: dict[str, Any]) -> None:
    """Permanently deletes the contact (204); an unknown id is 404, like any object that does not exist."""
    state = h.server.state
    with state.lock:
        email = _by_id(state, str(body.get("objectId", "")))
        if email is None:
            h.reply(404, _error("OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric."))
            return
        del state.records[email]
        state.extra.setdefault("gdpr_deleted", []).append(str(body["objectId"]))
        for other, primary in list(state.extra.get("additional_emails", {}).items()):
            if primary == email:
                del state.extra["additional_emails"][other]
    h.reply(204, None)


def _merge(h: _Handler, body: dict[str, Any]) -> None:
    """Merges into a record with a *new* id (HubSpot's documented behaviour); the primary's values win, the other
    email becomes an additional email of the merged contact; both old ids are gone."""
    state = h.server.state
    primary_id, other_id = str(body.get("primaryObjectId", "")), str(body.get("objectIdToMerge", ""))
    with state.lock:
        primary, other = _by_id(state, primary_id), _by_id(state, other_id)
        if primary is None or other is None or primary == other:
            h.reply(400, _error("VALIDATION_ERROR", f"Cannot merge {other_id} into {primary_id}"))
            return
        merged = {**state.records.pop(other), **state.records[primary], "_id": str(next(_ids))}
        state.records[primary] = merged
        state.extra.setdefault("additional_emails", {})[other] = primary
        state.extra.setdefault("merges", []).append((primary_id, other_id, merged["_id"]))
    visible = {k: v for k, v in merged.items() if not k.startswith("_")}
    h.reply(200, _object(merged["_id"], visible))


BUILT_IN = {
    "contacts": ("email", "firstname", "lastname", "jobtitle", "company", "website", "country", "lifecyclestage")
    + ("hs_lead_status", "phone", "hs_object_id"),
    "companies": ("domain", "name", "industry", "numberofemployees", "lifecyclestage", "hs_object_id"),
}


def _properties(h: _Handler, rest: str, body: dict[str, Any]) -> None:
    """``GET/POST /crm/v3/properties/{objectType}``: built-in properties plus those created (409 when the name is
    taken); a create needs name, label, type, fieldType and groupName."""
    state = h.server.state
    object_type = rest.strip("/")
    if object_type not in BUILT_IN:
        h.reply(404, _error("OBJECT_NOT_FOUND", f"Unable to infer object type from: {object_type}"))
        return
    with state.lock:
        created = state.extra.setdefault("properties", {}).setdefault(object_type, {})
        if h.command == "GET":
            built_in = [{"name": n, "label": n, "type": "string", "fieldType": "text"} for n in BUILT_IN[object_type]]
            h.reply(200, {"results": built_in + list(created.values())})
            return
        missing = [f for f in ("name", "label", "type", "fieldType", "groupName") if not body.get(f)]
        if missing:
            h.reply(400, _error("VALIDATION_ERROR", f"Missing required fields {missing}"))
            return
        if body["name"] in created or body["name"] in BUILT_IN[object_type]:
            h.reply(409, _error("OBJECT_ALREADY_EXISTS", f"Property named '{body['name']}' already exists."))
            return
        created[body["name"]] = {**body, "createdAt": _now()}
    h.reply(201, created[body["name"]])


def hubspot_server() -> FakeServer:
    return FakeServer(_route)
