"""The Segment-compatible tracking API: ``POST /v1/batch`` and the single-call ``/v1/<type>`` endpoints.

Contract with clients:

* all or nothing per request: if any call is invalid the answer is 400 listing every bad field path, and
  nothing of the request is published;
* ``200 {"success": true}`` only once Kafka acknowledged every event (``acks=all``); if the broker does not
  acknowledge in time the answer is 503 with ``Retry-After`` and nothing is claimed accepted (an SDK retry may
  then duplicate events that did land; ``event_id`` is the dedup key downstream).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import anyio
import anyio.to_thread
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from peerscore.events import EngagementEvent, utcnow
from peerscore.ingest.auth import WriteKeys, header_write_key
from peerscore.ingest.body import decode, parse_json, read_limited, serialised_size, too_large
from peerscore.ingest.errors import InvalidEvent, RequestRejected
from peerscore.ingest.metrics import IngestMetrics
from peerscore.ingest.normalise import CALL_TYPES, normalise_batch, normalise_call
from peerscore.ingest.settings import IngestSettings
from peerscore.kafka_io import KafkaPublisher, Publisher, make_publisher, record
from peerscore.observability import health_router
from peerscore.runtime import broker_check
from peerscore.settings import IdentitySettings, KafkaSettings, RuntimeSettings

log = structlog.get_logger(__name__)

MAX_REPORTED_ERRORS = 100
Handler = Callable[[Request], Awaitable[JSONResponse]]


class _PublisherSlot:
    """Holds the injected publisher, or the one the lifespan owns while the app runs."""

    def __init__(self, publisher: Publisher | None) -> None:
        self.publisher = publisher


def create_app(
    settings: IngestSettings,
    identity: IdentitySettings,
    runtime: RuntimeSettings,
    kafka: KafkaSettings,
    publisher: Publisher | None = None,
) -> FastAPI:
    """Build the app; with ``publisher=None`` the lifespan creates a Kafka publisher and closes it at exit."""
    settings.check(runtime)
    identity.check(runtime)
    slot = _PublisherSlot(publisher)
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    keys = WriteKeys(settings.write_keys)
    secret = identity.person_key_secret.get_secret_value().encode()
    topic = kafka.topics().events

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        owned: KafkaPublisher | None = None
        if slot.publisher is None:
            owned = await run_in_threadpool(make_publisher, kafka, "ingest")
            slot.publisher = owned
        log.info("ingest_started", topic=topic, write_keys=len(settings.write_keys), env=runtime.env)
        try:
            yield
        finally:
            if owned is not None:
                slot.publisher = None
                try:
                    await run_in_threadpool(owned.close)
                except Exception as exc:  # unacknowledged leftovers were answered 503; shut down anyway
                    log.warning("publisher_close_failed", error=type(exc).__name__)

    app = FastAPI(title="Peerscore ingest", version="1", lifespan=lifespan)
    app.include_router(health_router(registry, {"broker": broker_check(kafka.bootstrap_servers)}))
    app.state.registry = registry

    async def read_body(request: Request) -> dict[str, Any]:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > settings.max_batch_bytes:
            raise too_large(f"request body is larger than {settings.max_batch_bytes} bytes")
        raw = await read_limited(request.stream(), settings.max_batch_bytes)
        data = decode(raw, request.headers.get("content-encoding"), settings.max_batch_bytes)
        return parse_json(data)

    def check_event_sizes(calls: list[Any], prefix: str) -> None:
        if len(calls) > settings.max_batch_events:
            raise too_large(f"batch holds more than {settings.max_batch_events} calls")
        for index, call in enumerate(calls):
            if serialised_size(call) > settings.max_event_bytes:
                where = f"{prefix}[{index}]" if prefix else "body"
                raise too_large(f"{where} is larger than {settings.max_event_bytes} bytes")

    def normalise(body: dict[str, Any], call_type: str | None, received_at: datetime) -> list[EngagementEvent]:
        if call_type is None:
            calls = body.get("batch")
            if isinstance(calls, list):
                check_event_sizes(calls, "batch")
            return normalise_batch(body, secret=secret, received_at=received_at)
        check_event_sizes([body], "")
        return [normalise_call(body, secret=secret, received_at=received_at, expected_type=call_type)]

    async def publish(events: list[EngagementEvent]) -> None:
        current = slot.publisher
        if current is None:
            raise RuntimeError("no publisher: the app's lifespan is not running")
        records = [record(topic, e.person_key, e) for e in events]
        # Abandon (not cancel) the worker thread on timeout: a blocked producer call cannot be interrupted,
        # and the client must get its 503 now rather than when the producer gives up.
        with anyio.fail_after(settings.publish_timeout_s):
            await anyio.to_thread.run_sync(
                functools.partial(current.publish, records, wait=True), abandon_on_cancel=True
            )

    async def ingest(request: Request, endpoint: str, call_type: str | None) -> JSONResponse:
        received_at = utcnow()
        presented = header_write_key(request.headers.get("authorization"), request.headers.get("x-write-key"))
        if presented is not None and not keys.accepts(presented):
            raise _unauthorised()
        body = await read_body(request)
        if presented is None and not keys.accepts(body.get("writeKey")):
            raise _unauthorised()
        events = normalise(body, call_type, received_at)
        if events:
            try:
                await publish(events)
            except Exception as exc:  # any failure to get an ack means "not accepted"
                log.warning("publish_failed", endpoint=endpoint, events=len(events), error=type(exc).__name__)
                raise RequestRejected(503, "unavailable", "unavailable", "event broker unavailable") from None
        kinds = [call_type] if call_type else [str(c.get("type")) for c in body.get("batch", [])]
        for kind in kinds:
            metrics.accepted.labels(call=kind).inc()
        log.info(
            "events_accepted",
            endpoint=endpoint,
            events=len(events),
            persons=len({e.person_key for e in events}),
        )
        return JSONResponse({"success": True})

    def endpoint_for(endpoint: str, call_type: str | None) -> Handler:
        async def handle(request: Request) -> JSONResponse:
            started = time.perf_counter()
            try:
                return await ingest(request, endpoint, call_type)
            except RequestRejected as exc:
                metrics.rejected.labels(reason=exc.reason).inc()
                log.info("request_rejected", endpoint=endpoint, reason=exc.reason, status=exc.status)
                return JSONResponse(
                    {"error": exc.error, "message": exc.message}, exc.status, headers=_headers(exc, settings)
                )
            except InvalidEvent as exc:
                metrics.rejected.labels(reason="invalid").inc()
                paths = [e.path for e in exc.errors]
                log.info("request_rejected", endpoint=endpoint, reason="invalid", status=400, paths=paths[:10])
                detail = [e.as_dict() for e in exc.errors[:MAX_REPORTED_ERRORS]]
                return JSONResponse({"error": "invalid_event", "detail": detail}, 400)
            finally:
                metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)

        handle.__name__ = f"ingest_{endpoint}"
        return handle

    app.add_api_route("/v1/batch", endpoint_for("batch", None), methods=["POST"])
    for call_type in CALL_TYPES:
        app.add_api_route(f"/v1/{call_type}", endpoint_for(call_type, call_type), methods=["POST"])
    return app


def _unauthorised() -> RequestRejected:
    return RequestRejected(401, "auth", "unauthorized", "missing or wrong write key")


def _headers(exc: RequestRejected, settings: IngestSettings) -> dict[str, str]:
    if exc.status == 401:
        return {"WWW-Authenticate": 'Basic realm="peerscore"'}
    if exc.status == 503:
        return {"Retry-After": str(settings.retry_after_s)}
    return {}
