"""The ingest app: the Segment-compatible tracking API, the CSV import and the LinkedIn webhooks, to Kafka.

``create_app`` only wires: the routes live in :mod:`.segment_routes`, :mod:`.csv_routes` and
:mod:`.linkedin.webhook_routes`, and reach what they need through :mod:`.deps`. Resources that connect
somewhere (the Kafka producer, the source-topic consumers) are opened by the lifespan, unless injected, so
building an app never touches the network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from peerscore.errors import install_error_handlers
from peerscore.ingest import csv_routes, segment_routes
from peerscore.ingest.auth import WriteKeys
from peerscore.ingest.deps import IngestState, LinkedInState
from peerscore.ingest.linkedin import webhook_routes
from peerscore.ingest.linkedin.client import LinkedInLeadClient
from peerscore.ingest.metrics import IngestMetrics, LinkedInMetrics
from peerscore.ingest.settings import IngestConfig, LinkedInSettings
from peerscore.ingest.sink import EventSink
from peerscore.ingest.sources.runner import SourceRunner
from peerscore.kafka_io import KafkaPublisher, Publisher, make_publisher
from peerscore.observability import health_router
from peerscore.runtime import broker_check

log = structlog.get_logger(__name__)


def create_app(
    config: IngestConfig,
    *,
    engine: Engine | None = None,
    publisher: Publisher | None = None,
    start_consumers: bool = True,
) -> FastAPI:
    """Build the app; with ``publisher=None`` the lifespan creates a Kafka publisher and closes it at exit.

    ``start_consumers=False`` keeps the source-topic consumers off even when configured. Ingest keeps no
    database: ``engine`` is accepted (and unused) so the three services share one entry-point shape.
    """
    del engine
    config.check()
    registry = CollectorRegistry()
    settings = config.ingest
    sink = EventSink(
        config.kafka.topics().events,
        timeout_s=settings.publish_timeout_s,
        retry_after_s=settings.retry_after_s,
        publisher=publisher,
    )
    sources = SourceRunner(
        config.sources if start_consumers else None,
        kafka=config.kafka,
        person_key_secret=config.person_key_secret,
        registry=registry,
    )
    app = FastAPI(title="Peerscore ingest", version="1", lifespan=lifespan)
    app.state.config = config
    app.state.registry = registry
    app.state.sources = sources
    app.state.ingest = IngestState(
        settings=settings,
        keys=WriteKeys(settings.write_keys),
        secret=config.person_key_secret,
        metrics=IngestMetrics(registry),
        sink=sink,
    )
    install_error_handlers(app)
    app.include_router(
        health_router(registry, {"broker": broker_check(config.kafka.bootstrap_servers), **sources.checks()})
    )
    app.include_router(segment_routes.router)
    app.include_router(csv_routes.router)
    if config.linkedin is not None and config.linkedin.enabled:
        app.state.linkedin = linkedin_state(config.linkedin, registry)
        app.include_router(webhook_routes.router)
    return app


def linkedin_state(linkedin: LinkedInSettings, registry: CollectorRegistry) -> LinkedInState:
    """What the webhooks need; the lead-data client only with an access token (else leads come on Kafka)."""
    return LinkedInState(
        client_secret=linkedin.client_secret.get_secret_value().encode(),
        leads_client=LinkedInLeadClient(linkedin) if linkedin.fetches_leads else None,
        metrics=LinkedInMetrics(registry),
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the publisher (unless injected) and the source consumers; close them in reverse order."""
    config: IngestConfig = app.state.config
    state: IngestState = app.state.ingest
    sources: SourceRunner = app.state.sources
    owned: KafkaPublisher | None = None
    if not state.sink.attached:
        owned = await run_in_threadpool(make_publisher, config.kafka, "ingest")
        state.sink.attach(owned)
    log.info(
        "ingest_started", topic=state.sink.topic, write_keys=len(state.settings.write_keys), env=config.runtime.env
    )
    try:
        await sources.start(lambda: state.sink.publisher)
        yield
    finally:
        await sources.stop()  # before the publisher closes: the loops publish through it
        if owned is not None:
            state.sink.attach(None)
            try:
                await run_in_threadpool(owned.close)
            except Exception as exc:  # unacknowledged leftovers were answered 503; shut down anyway
                log.warning("publisher_close_failed", error=type(exc).__name__)
