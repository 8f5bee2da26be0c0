"""The Segment-compatible tracking API: ``POST /v1/batch`` and the single-call ``/v1/<type>`` endpoints.

Contract with clients:

* all or nothing per request: if any call is invalid the answer is 400 listing every bad field path, and
  nothing of the request is published;
* ``200 {"success": true}`` only once Kafka acknowledged every event (``acks=all``); if the broker does not
  acknowledge in time the answer is 503 with ``Retry-After`` and nothing is claimed accepted (an SDK retry may
  then duplicate events that did land; ``event_id`` is the dedup key downstream);
* each write key may be bound to a source name, recorded as ``source`` on every event sent with it.

``POST /v1/import/csv`` (see :mod:`peerscore.ingest.csv_api`) imports historical leads and events.
"""

from __future__ import annotations

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
from peerscore.ingest.auth import KeyMatch, WriteKeys, header_write_key
from peerscore.ingest.body import decode, parse_json, read_limited, serialised_size, too_large
from peerscore.ingest.csv_api import add_csv_import_route
from peerscore.ingest.errors import FieldError, InvalidEvent, RequestRejected
from peerscore.ingest.metrics import IngestMetrics
from peerscore.ingest.normalise import CALL_TYPES, normalise_batch, normalise_call
from peerscore.ingest.openapi import operation
from peerscore.ingest.settings import IngestSettings, LinkedInSettings, SourceTopicSettings
from peerscore.ingest.wiring import SourceRunner, add_linkedin_routes
from peerscore.kafka_io import KafkaPublisher, Publisher, make_publisher, record
from peerscore.observability import health_router
from peerscore.runtime import broker_check
from peerscore.secrets_compare import ascii_digits
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
    *,
    linkedin: LinkedInSettings | None = None,
    sources: SourceTopicSettings | None = None,
) -> FastAPI:
    """Build the app; with ``publisher=None`` the lifespan creates a Kafka publisher and closes it at exit.

    ``linkedin`` adds the LinkedIn webhooks, ``sources`` the Kafka source-topic consumers (both off by default).
    """
    settings.check(runtime)
    identity.check(runtime)
    slot = _PublisherSlot(publisher)
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    keys = WriteKeys(settings.write_keys)
    secret = identity.person_key_secret.get_secret_value().encode()
    topic = kafka.topics().events
    if linkedin is not None:
        linkedin.check(runtime)
    source_runner = SourceRunner(sources, kafka=kafka, person_key_secret=secret, registry=registry)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        owned: KafkaPublisher | None = None
        if slot.publisher is None:
            owned = await run_in_threadpool(make_publisher, kafka, "ingest")
            slot.publisher = owned
        log.info("ingest_started", topic=topic, write_keys=len(settings.write_keys), env=runtime.env)
        try:
            await source_runner.start(current_publisher)
            yield
        finally:
            await source_runner.stop()  # before the publisher closes: the loops publish through it
            if owned is not None:
                slot.publisher = None
                try:
                    await run_in_threadpool(owned.close)
                except Exception as exc:  # unacknowledged leftovers were answered 503; shut down anyway
                    log.warning("publisher_close_failed", error=type(exc).__name__)

    app = FastAPI(title="Peerscore ingest", version="1", lifespan=lifespan)
    app.include_router(
        health_router(registry, {"broker": broker_check(kafka.bootstrap_servers), **source_runner.checks()})
    )
    app.state.registry = registry

    async def read_body(request: Request) -> dict[str, Any]:
        length = request.headers.get("content-length", "")
        if ascii_digits(length) and int(length) > settings.max_batch_bytes:
            raise too_large(f"request body is larger than {settings.max_batch_bytes} bytes")
        raw = await read_limited(request.stream(), settings.max_batch_bytes)
        data = decode(raw, request.headers.get("content-encoding"), settings.max_batch_bytes)
        return parse_json(data)

    def check_event_sizes(calls: list[Any], prefix: str) -> None:
        """413 naming every call over the per-event limit (``batch[7]``; ``$`` for a single-call body)."""
        if len(calls) > settings.max_batch_events:
            raise too_large(f"batch holds more than {settings.max_batch_events} calls", path=prefix)
        limit = settings.max_event_bytes
        message = f"is larger than {limit} bytes"
        oversized = [
            FieldError(f"{prefix}[{index}]" if prefix else "$", message)
            for index, call in enumerate(calls)
            if serialised_size(call) > limit
        ]
        if oversized:
            more = f" (and {len(oversized) - 1} more, see detail)" if len(oversized) > 1 else ""
            raise too_large(f"{oversized[0].path} {message}{more}", detail=oversized)

    def normalise(
        body: dict[str, Any], call_type: str | None, received_at: datetime, source: str | None
    ) -> list[EngagementEvent]:
        if call_type is None:
            calls = body.get("batch")
            if isinstance(calls, list):
                check_event_sizes(calls, "batch")
            return normalise_batch(body, secret=secret, received_at=received_at, source=source)
        check_event_sizes([body], "")
        return [normalise_call(body, secret=secret, received_at=received_at, expected_type=call_type, source=source)]

    async def publish(events: list[EngagementEvent]) -> None:
        current = current_publisher()

        def serialise_and_send() -> None:  # off the event loop: serialising 500 events takes milliseconds
            current.publish([record(topic, e.person_key, e) for e in events], wait=True)

        # Abandon (not cancel) the worker thread on timeout: a blocked producer call cannot be interrupted,
        # and the client must get its 503 now rather than when the producer gives up.
        with anyio.fail_after(settings.publish_timeout_s):
            await anyio.to_thread.run_sync(serialise_and_send, abandon_on_cancel=True)

    async def ingest(request: Request, endpoint: str, call_type: str | None) -> JSONResponse:
        received_at = utcnow()
        presented = header_write_key(request.headers.get("authorization"), request.headers.get("x-write-key"))
        matched: KeyMatch | None = None
        if presented is not None:
            matched = keys.match(presented)
            if matched is None:
                raise _unauthorised()
        body = await read_body(request)
        if matched is None:
            matched = keys.match(body.get("writeKey"))
            if matched is None:
                raise _unauthorised()
        events = normalise(body, call_type, received_at, matched.source)
        if events:
            try:
                await publish(events)
            except Exception as exc:  # any failure to get an ack means "not accepted"
                log.warning("publish_failed", endpoint=endpoint, events=len(events), error=type(exc).__name__)
                raise RequestRejected(503, "unavailable", "unavailable", "event broker unavailable") from None
        counts: dict[str, int] = {}
        for kind in [call_type] if call_type else [str(c.get("type")) for c in body.get("batch", [])]:
            counts[kind] = counts.get(kind, 0) + 1
        for kind, count in counts.items():
            metrics.accepted.labels(call=kind).inc(count)
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
                return rejected(exc, endpoint)
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

    def rejected(exc: RequestRejected, endpoint: str = "import_csv") -> JSONResponse:
        metrics.rejected.labels(reason=exc.reason).inc()
        log.info("request_rejected", endpoint=endpoint, reason=exc.reason, status=exc.status)
        return JSONResponse(exc.as_dict(MAX_REPORTED_ERRORS), exc.status, headers=_headers(exc, settings))

    def current_publisher() -> Publisher:
        if slot.publisher is None:
            raise RuntimeError("no publisher: the app's lifespan is not running")
        return slot.publisher

    app.add_api_route("/v1/batch", endpoint_for("batch", None), methods=["POST"], openapi_extra=operation(None))
    for call_type in CALL_TYPES:
        app.add_api_route(
            f"/v1/{call_type}",
            endpoint_for(call_type, call_type),
            methods=["POST"],
            openapi_extra=operation(call_type),
        )
    add_csv_import_route(
        app, settings=settings, keys=keys, secret=secret, topic=topic, publisher=current_publisher, rejected=rejected
    )
    add_linkedin_routes(app, linkedin, settings=settings, person_key_secret=secret, publish=publish, registry=registry)
    return app


def _unauthorised() -> RequestRejected:
    return RequestRejected(401, "auth", "unauthorized", "missing or wrong write key")


def _headers(exc: RequestRejected, settings: IngestSettings) -> dict[str, str]:
    if exc.status == 401:
        return {"WWW-Authenticate": 'Basic realm="peerscore"'}
    if exc.status == 503:
        return {"Retry-After": str(settings.retry_after_s)}
    return {}
