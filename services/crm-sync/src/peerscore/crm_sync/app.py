"""The crm-sync app factory: the consumer loop runs on a background thread owned by the FastAPI lifespan.

Everything (engine, Kafka clients, metrics registry) is built per app instance, never at import time, so tests
can create as many isolated apps as they like and uvicorn's SIGTERM → lifespan shutdown drains the loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from peerscore.api import RefuseNulInUrl, api_access
from peerscore.crm_sync.adapters.factory import CrmClients, build_adapter_factory
from peerscore.crm_sync.adapters.hubspot import make_hubspot_client
from peerscore.crm_sync.adapters.hubspot_people import HubSpotPeople
from peerscore.crm_sync.consumers import Consumers, start_consumers
from peerscore.crm_sync.crm_objects import lookup_person_keys
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES
from peerscore.crm_sync.outcome_routes import OutcomeSink, outcomes_router
from peerscore.crm_sync.page import crm_page_router
from peerscore.crm_sync.routes import leads_router
from peerscore.crm_sync.settings import CrmSyncSettings, OutcomeSettings
from peerscore.db import database_check, make_engine, prepare_schema
from peerscore.kafka_io import Publisher
from peerscore.observability import ConsumerMetrics, health_router
from peerscore.runtime import broker_check
from peerscore.settings import ApiAuthSettings, DatabaseSettings, IdentitySettings, KafkaSettings, RuntimeSettings

log = structlog.get_logger(__name__)


class _Running:
    """What the lifespan started; readiness checks look here so they work before and after start-up."""

    engine: Engine | None = None
    worker: Consumers | None = None
    publisher: Publisher | None = None

    def check_database(self) -> None:
        if self.engine is None:
            raise RuntimeError("database not opened yet")
        database_check(self.engine)()

    def check_consumer(self) -> None:
        if self.worker is None:
            raise RuntimeError("consumer not started")
        self.worker.check()


def create_app(
    *,
    runtime: RuntimeSettings,
    kafka: KafkaSettings,
    database: DatabaseSettings,
    auth: ApiAuthSettings,
    crm: CrmSyncSettings | None = None,
    clients: CrmClients | None = None,
    identity: IdentitySettings | None = None,
    outcomes: OutcomeSettings | None = None,
    engine: Engine | None = None,
    start_consumer: bool = True,
    publisher: Publisher | None = None,
) -> FastAPI:
    """Build the app. A given ``engine`` stays the caller's (it is not disposed); ``start_consumer=False``
    serves only the read API, page and outcome webhooks, for tests and for looking at a CRM database without a
    broker. Outcomes are published with ``publisher`` if given, else with the worker's producer."""
    settings = crm if crm is not None else CrmSyncSettings()
    crm_clients = clients or CrmClients()
    require_auth = api_access(auth, runtime, serves_admin=False).read  # crm-sync serves reads only
    registry = CollectorRegistry()
    consumer_metrics = ConsumerMetrics(registry, settings.group_id)
    crm_metrics = CrmMetrics(registry)
    # Every HubSpot call (adapter and webhook lookups) waits on this one limiter; operators see the waits.
    crm_clients.hubspot_limiter().observe(partial(crm_metrics.limiter_waited, "hubspot"))
    running = _Running()
    running.publisher = publisher
    factory = build_adapter_factory(settings, crm_clients, crm_metrics)
    crm_clients.salesforce.check_outcomes(runtime)
    sink = _outcome_sink(
        settings,
        crm_clients,
        identity or IdentitySettings(),
        outcomes or OutcomeSettings(),
        kafka,
        crm_metrics,
        running,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        eng = engine or make_engine(database.database_url, echo=database.database_echo)
        try:
            prepare_schema(eng, TABLES)  # Alembic migrations (a no-op once the Helm Job has run)
            app.state.engine = running.engine = eng
            if start_consumer:
                running.worker = start_consumers(eng, kafka, settings, factory, consumer_metrics, crm_metrics)
                if running.publisher is None:
                    running.publisher = running.worker.publisher
            log.info("crm_sync_started", adapter=settings.adapter, group=settings.group_id, consumer=start_consumer)
            yield
        finally:
            if running.worker is not None:
                running.worker.stop()
                running.worker = None
            running.engine = None
            if owned:
                eng.dispose()

    app = FastAPI(title="Peerscore crm-sync", lifespan=lifespan)
    app.add_middleware(RefuseNulInUrl)  # PostgreSQL cannot take a NUL: 400, not a DataError
    checks = {"database": running.check_database}
    if start_consumer:
        checks |= {"broker": broker_check(kafka.bootstrap_servers), "consumer": running.check_consumer}
    app.include_router(health_router(registry, checks))
    app.include_router(leads_router(require_auth))
    app.include_router(crm_page_router(require_auth))
    app.include_router(outcomes_router(sink))
    return app


def _outcome_sink(
    settings: CrmSyncSettings,
    clients: CrmClients,
    identity: IdentitySettings,
    outcomes: OutcomeSettings,
    kafka: KafkaSettings,
    metrics: CrmMetrics,
    running: _Running,
) -> OutcomeSink:
    hubspot = clients.hubspot
    people = None
    if hubspot.client_secret.get_secret_value() and hubspot.access_token.get_secret_value():
        client = make_hubspot_client(hubspot.access_token.get_secret_value(), hubspot.host)
        people = HubSpotPeople(client, clients.hubspot_limiter(), hubspot.webhook_lookup_timeout_s)
    return OutcomeSink(
        publisher=lambda: running.publisher,
        topic=kafka.topics().outcomes,
        person_key_secret=identity.person_key_secret.get_secret_value().encode(),
        metrics=metrics,
        hubspot_client_secret=hubspot.client_secret.get_secret_value().encode(),
        hubspot_people=people,
        deal_stages=hubspot.deal_stages,
        salesforce_org_id=clients.salesforce.organization_id,
        webhook_secret=outcomes.webhook_secret.get_secret_value().encode(),
        person_keys=lambda crm, ids: lookup_person_keys(running.engine, crm, ids),
        salesforce_token=clients.salesforce.outbound_token.get_secret_value().encode(),
        max_body_bytes=outcomes.max_body_bytes,
        public_base_url=outcomes.public_base_url,
    )
