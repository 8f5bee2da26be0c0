"""The crm-sync app factory: the consumer loop runs on a background thread owned by the FastAPI lifespan.

Everything (engine, Kafka clients, metrics registry) is built per app instance, never at import time, so tests
can create as many isolated apps as they like and uvicorn's SIGTERM → lifespan shutdown drains the loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.api import bearer_auth
from peerscore.consumer import ConsumerLoop
from peerscore.crm_sync.adapters.base import CrmAdapter
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES
from peerscore.crm_sync.page import crm_page_router
from peerscore.crm_sync.routes import leads_router
from peerscore.crm_sync.settings import CrmSyncSettings
from peerscore.crm_sync.worker import AdapterFactory, SyncHandler
from peerscore.db import create_tables, database_check, make_engine
from peerscore.events import LeadTransition
from peerscore.kafka_io import KafkaPublisher, make_consumer, make_publisher
from peerscore.observability import ConsumerMetrics, health_router
from peerscore.runtime import BackgroundLoop, broker_check
from peerscore.settings import ApiAuthSettings, DatabaseSettings, KafkaSettings, RuntimeSettings

log = structlog.get_logger(__name__)


def adapter_factory(settings: CrmSyncSettings) -> AdapterFactory:
    """The configured CRM. Remote adapters (HubSpot, Salesforce, webhook) will ignore the session."""

    def local(session: Session) -> CrmAdapter:
        return LocalCrmAdapter(session)

    factories: dict[str, AdapterFactory] = {"local": local}
    return factories[settings.adapter]


@dataclass
class _Worker:
    """The running consumer and the clients it owns, stopped in reverse order of creation."""

    background: BackgroundLoop
    publisher: KafkaPublisher

    def stop(self) -> None:
        self.background.stop()  # drains the current batch, commits and closes the consumer
        if self.background.alive:
            log.error("consumer_loop_did_not_stop")
        self.publisher.close()


class _Running:
    """What the lifespan started; readiness checks look here so they work before and after start-up."""

    engine: Engine | None = None
    worker: _Worker | None = None

    def check_database(self) -> None:
        if self.engine is None:
            raise RuntimeError("database not opened yet")
        database_check(self.engine)()

    def check_consumer(self) -> None:
        if self.worker is None:
            raise RuntimeError("consumer not started")
        self.worker.background.check()


def _start_worker(
    engine: Engine,
    kafka: KafkaSettings,
    crm: CrmSyncSettings,
    consumer_metrics: ConsumerMetrics,
    crm_metrics: CrmMetrics,
) -> _Worker:
    topics = kafka.topics()
    publisher = make_publisher(kafka, "crm-sync-dlq")
    try:
        loop: ConsumerLoop[LeadTransition] = ConsumerLoop(
            consumer=make_consumer(kafka, crm.group_id),
            topics=[topics.qualified],
            handler=SyncHandler(engine, adapter_factory(crm), crm_metrics),
            dlq_topic=topics.qualified_dlq,
            publisher=publisher,
            metrics=consumer_metrics,
        )
    except BaseException:
        publisher.close()
        raise
    background = BackgroundLoop(loop, name="crm-sync-consumer")
    background.start()
    return _Worker(background, publisher)


def create_app(
    *,
    runtime: RuntimeSettings,
    kafka: KafkaSettings,
    database: DatabaseSettings,
    auth: ApiAuthSettings,
    crm: CrmSyncSettings | None = None,
    engine: Engine | None = None,
    start_consumer: bool = True,
) -> FastAPI:
    """Build the app. A given ``engine`` stays the caller's (it is not disposed); ``start_consumer=False``
    serves only the read API and page, for tests and for looking at a CRM database without a broker."""
    settings = crm if crm is not None else CrmSyncSettings()
    require_auth = bearer_auth(auth, runtime)
    registry = CollectorRegistry()
    consumer_metrics = ConsumerMetrics(registry, settings.group_id)
    crm_metrics = CrmMetrics(registry)
    running = _Running()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        eng = engine or make_engine(database.database_url, echo=database.database_echo)
        try:
            create_tables(eng, TABLES)
            app.state.engine = running.engine = eng
            if start_consumer:
                running.worker = _start_worker(eng, kafka, settings, consumer_metrics, crm_metrics)
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
    checks = {"database": running.check_database}
    if start_consumer:
        checks |= {"broker": broker_check(kafka.bootstrap_servers), "consumer": running.check_consumer}
    app.include_router(health_router(registry, checks))
    app.include_router(leads_router(require_auth))
    app.include_router(crm_page_router(require_auth))
    return app
