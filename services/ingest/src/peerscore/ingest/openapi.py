"""The OpenAPI description of the tracking API, so clients (and schemathesis) know the contract.

The handlers read raw bytes themselves (gzip, size limits while streaming, all-or-nothing batches), so
FastAPI cannot infer these schemas; they are declared here and kept loose where Segment is loose (traits,
properties and context are free-form objects).
"""

from __future__ import annotations

from typing import Any

from peerscore.ingest.normalise import CALL_TYPES

_ID = {"type": "string", "maxLength": 256}
_TIME = {"type": "string", "format": "date-time"}
_OBJECT = {"type": "object"}

CALL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One Segment call (spec: https://segment.com/docs/connections/spec/)",
    "anyOf": [{"required": ["userId"]}, {"required": ["anonymousId"]}],
    "properties": {
        "type": {"type": "string", "enum": list(CALL_TYPES)},
        "userId": _ID,
        "anonymousId": _ID,
        "messageId": _ID,
        "timestamp": _TIME,
        "originalTimestamp": _TIME,
        "sentAt": _TIME,
        "event": {"type": "string", "maxLength": 256},
        "name": {"type": "string", "maxLength": 256},
        "category": {"type": "string"},
        "groupId": _ID,
        "previousId": _ID,
        "properties": _OBJECT,
        "traits": _OBJECT,
        "context": _OBJECT,
        "integrations": _OBJECT,
        "writeKey": {"type": "string"},
    },
}
BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": {**CALL_SCHEMA, "required": ["type"]}, "maxItems": 2500},
        "sentAt": _TIME,
        "context": _OBJECT,
        "integrations": _OBJECT,
        "writeKey": {"type": "string"},
    },
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "message"],
                "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_ERRORS = {
    400: "Invalid JSON or call; `detail` lists every bad field path (nothing is published)",
    401: "Missing or wrong write key",
    413: "Over 32 KB per call, 500 KB per request or 2,500 calls per batch; `detail` names where",
    415: "Content-Encoding other than gzip or identity",
    503: "The broker did not acknowledge in time; retry after `Retry-After` seconds",
}


def operation(call_type: str | None) -> dict[str, Any]:
    """``openapi_extra`` for ``/v1/batch`` (``call_type=None``) or ``/v1/<call_type>``."""
    schema = BATCH_SCHEMA if call_type is None else CALL_SCHEMA
    responses: dict[str, Any] = {
        "200": {
            "description": "Every call published and acknowledged by Kafka",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["success"],
                        "properties": {"success": {"type": "boolean"}},
                    }
                }
            },
        }
    }
    for status, description in _ERRORS.items():
        responses[str(status)] = {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "responses": responses,
    }
