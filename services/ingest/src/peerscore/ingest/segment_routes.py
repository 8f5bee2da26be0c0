"""The Segment-compatible tracking API: ``POST /v1/batch`` and the single-call ``/v1/<type>`` endpoints.

Contract with clients:

* all or nothing per request: if any call is invalid the answer is 400 listing every bad field path, and
  nothing of the request is published;
* ``200 {"success": true}`` only once Kafka acknowledged every event (``acks=all``); if the broker does not
  acknowledge in time the answer is 503 with ``Retry-After`` and nothing is claimed accepted (an SDK retry may
  then duplicate events that did land; ``event_id`` is the dedup key downstream);
* each write key may be bound to a source name, recorded as ``source`` on every event sent with it.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from peerscore.events import EngagementEvent, utcnow
from peerscore.ingest.auth import header_key, require_key
from peerscore.ingest.body import check_call_sizes, read_json_body
from peerscore.ingest.deps import IngestDep, IngestState
from peerscore.ingest.metrics import counted, timed
from peerscore.ingest.normalise import CALL_TYPES, normalise_batch, normalise_call
from peerscore.ingest.openapi import operation

log = structlog.get_logger(__name__)

router = APIRouter()


def normalise(
    state: IngestState, body: dict[str, Any], call_type: str | None, received_at: datetime, source: str | None
) -> list[EngagementEvent]:
    """The request's events, after the per-batch and per-call size limits (``call_type=None``: a batch)."""
    limits = {"max_calls": state.settings.max_batch_events, "max_call_bytes": state.settings.max_event_bytes}
    if call_type is None:
        calls = body.get("batch")
        if isinstance(calls, list):
            check_call_sizes(calls, "batch", **limits)
        return normalise_batch(body, secret=state.secret, received_at=received_at, source=source)
    check_call_sizes([body], "", **limits)
    event = normalise_call(body, secret=state.secret, received_at=received_at, expected_type=call_type, source=source)
    return [event]


async def accept(call_type: str | None, request: Request, state: IngestDep) -> JSONResponse:
    """Authenticate, read, normalise and publish one request (``call_type=None``: a batch); 200 only once every
    event is acknowledged."""
    received_at = utcnow()
    endpoint = call_type or "batch"
    with timed(state.metrics, endpoint), counted(state.metrics, endpoint):
        matched = header_key(state.keys, request.headers)
        body = await read_json_body(request.headers, request.stream(), state.settings.max_batch_bytes)
        if matched is None:
            matched = require_key(state.keys, body.get("writeKey"))
        events = normalise(state, body, call_type, received_at, matched.source)
        await state.sink.publish(events, endpoint=endpoint)
    counts: dict[str, int] = {}
    for kind in [call_type] if call_type else [str(c.get("type")) for c in body.get("batch", [])]:
        counts[kind] = counts.get(kind, 0) + 1
    for kind, count in counts.items():
        state.metrics.accepted.labels(call=kind).inc(count)
    log.info("events_accepted", endpoint=endpoint, events=len(events), persons=len({e.person_key for e in events}))
    return JSONResponse({"success": True})


# One handler, one route per path: the OpenAPI document describes each call type's body on its own path.
router.add_api_route(
    "/v1/batch", partial(accept, None), methods=["POST"], name="ingest_batch", openapi_extra=operation(None)
)
for _call_type in CALL_TYPES:
    router.add_api_route(
        f"/v1/{_call_type}",
        partial(accept, _call_type),
        methods=["POST"],
        name=f"ingest_{_call_type}",
        openapi_extra=operation(_call_type),
    )
