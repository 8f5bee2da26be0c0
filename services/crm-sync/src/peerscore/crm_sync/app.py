"""The crm-sync app factory: the consumer loops run on background threads owned by the FastAPI lifespan.

``create_app(config, *, engine=None, publisher=None, start_consumers=True)`` is the shape every service shares.
Nothing is opened at create time: the engine, the CRM clients, the Kafka clients and the outcome sink are built in
the lifespan (unless the caller injected them, and then they stay the caller's), so tests can create as many
isolated apps as they like and uvicorn's SIGTERM → lifespan shutdown drains the loops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import structlog
from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from peerscore.api import RefuseNulInUrl, api_access
from peerscore.crm_sync import consumers, lead_pages, lead_routes, outcome_routes
from peerscore.crm_sync.adapters.factory import build_adapter_factory
from peerscore.crm_sync.adapters.hubspot import make_hubspot_client
from peerscore.crm_sync.adapters.hubspot_people import HubSpotPeople
from peerscore.crm_sync.config import CrmSyncConfig
from peerscore.crm_sync.crm_objects import lookup_person_keys
from peerscore.crm_sync.metrics import AlertMetrics, CrmMetrics
from peerscore.crm_sync.models import TABLES
from peerscore.crm_sync.outcome_routes import OutcomeSink
from peerscore.db import database_check, make_engine, prepare_schema
from peerscore.errors import install_error_handlers
from peerscore.kafka_io import Publisher
from peerscore.observability import ConsumerMetrics, health_router
from peerscore.runtime import broker_check

log = structlog.get_logger(__name__)


class _Service:
    """What one app runs: the metrics built with it, and what its lifespan opened. Readiness checks and the
    outcome sink look here, so they work before start-up, while running and after shutdown."""

    def __init__(
        self, config: CrmSyncConfig, *, engine: Engine | None, publisher: Publisher | None, start_consumers: bool
    ) -> None:
        self.config = config
        self.registry = CollectorRegistry()
        self.consumer_metrics = ConsumerMetrics(self.registry, config.crm.group_id)
        self.crm_metrics = CrmMetrics(self.registry)
        self.alert_metrics = AlertMetrics(self.registry)
        self.engine: Engine | None = None
        self.consumers: consumers.Consumers | None = None
        self._given_engine = engine
        self._given_publisher = publisher
        self._start_consumers = start_consumers

    def publisher(self) -> Publisher | None:
        """The injected publisher, else the consumers' producer while they run (outcomes need one or answer 503)."""
        if self._given_publisher is not None:
            return self._given_publisher
        return self.consumers.publisher if self.consumers is not None else None

    def person_keys(self, crm: str, object_ids: Sequence[str]) -> dict[str, str]:
        return lookup_person_keys(self.engine, crm, object_ids)

    def check_database(self) -> None:
        if self.engine is None:
            raise RuntimeError("database not opened yet")
        database_check(self.engine)()

    def check_consumer(self) -> None:
        if self.consumers is None:
            raise RuntimeError("consumer not started")
        self.consumers.check()

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        config = self.config
        owned = self._given_engine is None
        engine = self._given_engine or make_engine(config.database.database_url, echo=config.database.database_echo)
        try:
            prepare_schema(engine, TABLES)  # Alembic migrations (a no-op once the Helm Job has run)
            app.state.engine = self.engine = engine
            if self._start_consumers:
                factory = build_adapter_factory(config.crm, config.clients, self.crm_metrics)
                self.consumers = consumers.start_consumers(
                    engine,
                    config.kafka,
                    config.crm,
                    factory,
                    self.consumer_metrics,
                    self.crm_metrics,
                    alerts=config.alerts,
                    alert_metrics=self.alert_metrics,
                )
            app.state.outcome_sink = build_outcome_sink(config, self.crm_metrics, self.publisher, self.person_keys)
            log.info(
                "crm_sync_started",
                adapter=config.crm.adapter,
                group=config.crm.group_id,
                consumer=self._start_consumers,
                alert_destinations=len(config.alerts.destinations),
            )
            yield
        finally:
            if self.consumers is not None:
                self.consumers.stop()
                self.consumers = None
            self.engine = None
            if owned:
                engine.dispose()


def create_app(
    config: CrmSyncConfig,
    *,
    engine: Engine | None = None,
    publisher: Publisher | None = None,
    start_consumers: bool = True,
) -> FastAPI:
    """Build the app. A given ``engine`` stays the caller's (it is not disposed); ``start_consumers=False``
    serves only the read API, page and outcome webhooks, for tests and for looking at a CRM database without a
    broker. Outcomes are published with ``publisher`` if given, else with the consumers' producer."""
    require_read = api_access(config.auth, config.runtime, serves_admin=False).read  # crm-sync serves reads only
    config.clients.salesforce.check_outcomes(config.runtime)
    service = _Service(config, engine=engine, publisher=publisher, start_consumers=start_consumers)
    # Every HubSpot call (adapter and webhook lookups) waits on this one limiter; operators see the waits.
    config.clients.hubspot_limiter().observe(partial(service.crm_metrics.limiter_waited, "hubspot"))

    app = FastAPI(title="Peerscore crm-sync", lifespan=service.lifespan)
    install_error_handlers(app)
    app.add_middleware(RefuseNulInUrl)  # PostgreSQL cannot take a NUL: 400, not a DataError
    checks = {"database": service.check_database}
    if start_consumers:
        checks |= {"broker": broker_check(config.kafka.bootstrap_servers), "consumer": service.check_consumer}
    app.include_router(health_router(service.registry, checks))
    app.include_router(lead_routes.router, dependencies=[Depends(require_read)])
    app.include_router(lead_pages.router, dependencies=[Depends(require_read)])
    app.include_router(outcome_routes.router)  # each CRM authenticates the way it documents (see the module)
    return app


def build_outcome_sink(
    config: CrmSyncConfig,
    metrics: CrmMetrics,
    publisher: outcome_routes.PublisherSource,
    person_keys: outcome_routes.PersonKeyLookup,
) -> OutcomeSink:
    """The outcome endpoints' secrets and clients; a HubSpot client only when webhook lookups are possible."""
    hubspot, salesforce = config.clients.hubspot, config.clients.salesforce
    people = None
    if hubspot.client_secret.get_secret_value() and hubspot.access_token.get_secret_value():
        client = make_hubspot_client(hubspot.access_token.get_secret_value(), hubspot.host)
        people = HubSpotPeople(client, config.clients.hubspot_limiter(), hubspot.webhook_lookup_timeout_s)
    return OutcomeSink(
        publisher=publisher,
        topic=config.kafka.topics().outcomes,
        person_key_secret=config.identity.person_key_secret.get_secret_value().encode(),
        metrics=metrics,
        hubspot_client_secret=hubspot.client_secret.get_secret_value().encode(),
        hubspot_people=people,
        deal_stages=hubspot.deal_stages,
        salesforce_org_id=salesforce.organization_id,
        webhook_secret=config.outcomes.webhook_secret.get_secret_value().encode(),
        person_keys=person_keys,
        salesforce_token=salesforce.outbound_token.get_secret_value().encode(),
        max_body_bytes=config.outcomes.max_body_bytes,
        public_base_url=config.outcomes.public_base_url,
    )
