"""Scoring service: the consumer loops on background threads plus the lead API, one process per worker.

``create_app(config, *, engine=None, publisher=None, start_consumers=True)`` is the shape all three services
share. Building the app does no I/O: the engine (unless injected) is only configured here — SQLAlchemy connects
on first use — and the lifespan prepares the schema, starts the ruleset watcher and the consumers, and closes
all of it again (an injected engine stays the caller's). Routes are module-level functions that read what they
need through :mod:`peerscore.scoring.deps`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import Engine

from peerscore.api import RefuseNulInUrl, api_access
from peerscore.db import database_check, make_engine, prepare_schema
from peerscore.errors import install_error_handlers
from peerscore.kafka_io import Publisher, make_publisher
from peerscore.observability import ReadinessCheck, health_router
from peerscore.runtime import broker_check
from peerscore.scoring import account_routes, lead_routes, signal_routes
from peerscore.scoring.background import Background, start_background
from peerscore.scoring.backtest import backtest_routes
from peerscore.scoring.backtest.jobs import BacktestJobs
from peerscore.scoring.config import ScoringConfig
from peerscore.scoring.console.wiring import mount_console
from peerscore.scoring.deps import ApiContext, bind
from peerscore.scoring.identity import erasure_routes
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.outcomes import outcome_routes
from peerscore.scoring.predictive import model_routes
from peerscore.scoring.rulesets.ruleset_routes import rulesets_router
from peerscore.scoring.rulesets.watcher import LiveRuleset
from peerscore.scoring.rulesets.wiring import LazyPublisher, build_live_ruleset, start_watching

__all__ = ["ScoringConfig", "create_app"]

JSON_ROUTERS = (
    lead_routes.router,  # read token: leads, accounts, models, backtests (what-if runs change nothing)
    account_routes.router,
    signal_routes.router,
    backtest_routes.router,
    model_routes.router,  # admin token: promotion, rollback, clearing the challenger
    outcome_routes.router,  # admin token: outcomes are the model's labels
    erasure_routes.router,  # admin token
)


@dataclass
class _Parts:
    """What one app instance is made of; the lifespan starts ``background`` and closes the rest."""

    config: ScoringConfig
    engine: Engine
    owns_engine: bool
    injected_publisher: Publisher | None
    rules_publisher: LazyPublisher
    """Opened on first use: rulesets and erasures are published rarely, and not at all in most tests."""
    live: LiveRuleset
    backtests: BacktestJobs
    registry: CollectorRegistry
    background: Background | None = None

    @classmethod
    def build(cls, config: ScoringConfig, engine: Engine | None, publisher: Publisher | None) -> _Parts:
        eng = engine or make_engine(config.database.database_url, echo=config.database.database_echo)
        # The ruleset is hot-reloaded: everything that scores asks live.current (rules topic, else registry,
        # else the configured default).
        live = build_live_ruleset(
            engine=eng, kafka=config.kafka, scoring=config.scoring, default=config.scoring.load_ruleset()
        )
        rules_publisher = LazyPublisher(lambda: make_publisher(config.kafka, "scoring-rules"))
        return cls(
            config=config,
            engine=eng,
            owns_engine=engine is None,
            injected_publisher=publisher,
            rules_publisher=rules_publisher,
            live=live,
            backtests=BacktestJobs(eng, live.current, workers=config.scoring.backtest_workers),
            registry=CollectorRegistry(),
        )

    @property
    def publisher(self) -> Publisher:
        """What the API publishes with (rulesets, erasure orders): the injected publisher, else the lazy one."""
        return self.injected_publisher or self.rules_publisher

    def check_consumer(self) -> None:
        if self.background is not None:
            self.background.check()

    def checks(self) -> dict[str, ReadinessCheck]:
        return {
            "database": database_check(self.engine),
            "broker": broker_check(self.config.kafka.bootstrap_servers),
            "consumer": self.check_consumer,
            "ruleset": self.live.check,
        }

    async def start(self, start_consumers: bool) -> None:
        prepare_schema(self.engine, SCORING_TABLES)  # Alembic migrations (a no-op once the Helm Job has run)
        if start_consumers:
            await start_watching(self.live, self.config.scoring.ruleset_startup_timeout_s)
            self.background = start_background(
                self.config,
                engine=self.engine,
                ruleset=self.live.current,
                publisher=self.injected_publisher,
                registry=self.registry,
            )

    def close(self) -> None:
        if self.background is not None:
            self.background.stop()
            self.background = None
        self.backtests.cancel_all()
        self.live.stop()
        self.rules_publisher.close()
        if self.owns_engine:
            self.engine.dispose()


@asynccontextmanager
async def _lifespan(parts: _Parts, start_consumers: bool, _: FastAPI) -> AsyncIterator[None]:
    try:
        await parts.start(start_consumers)
        yield
    finally:
        parts.close()


def create_app(
    config: ScoringConfig,
    *,
    engine: Engine | None = None,
    publisher: Publisher | None = None,
    start_consumers: bool = True,
) -> FastAPI:
    """Build the app. A given ``engine`` or ``publisher`` stays the caller's; ``start_consumers=False`` serves
    the APIs and the console without a broker (tests, looking at a database)."""
    parts = _Parts.build(config, engine, publisher)
    app = FastAPI(title="Peerscore scoring", lifespan=partial(_lifespan, parts, start_consumers))
    app.add_middleware(RefuseNulInUrl)  # PostgreSQL cannot take a NUL: 400, not a DataError
    install_error_handlers(app)
    app.include_router(health_router(parts.registry, parts.checks()))
    access = api_access(config.auth, config.runtime)
    bind(
        app,
        parts.engine,
        ApiContext(
            ruleset=parts.live.current,
            access=access,
            publisher=parts.publisher,
            events_topic=config.kafka.topics().events,
            person_key_secret=config.person_key_secret(),
            backtests=parts.backtests,
            drift_warn=config.predictive.drift_warn_psi,
            drift_alert=config.predictive.drift_alert_psi,
        ),
    )
    for router in JSON_ROUTERS:
        app.include_router(router)
    rules_api = rulesets_router(
        engine=parts.engine,
        publisher=parts.publisher,
        topic=config.kafka.topics().rules,
        live=parts.live,
        name=config.scoring.ruleset_name,
        auth=access.read,
        admin=access.admin,
    )
    app.include_router(rules_api)
    mount_console(
        app,
        settings=config.console,
        runtime=config.runtime,
        scoring=config.scoring,
        engine=parts.engine,
        live=parts.live,
        backtests=parts.backtests,
        rulesets_router=rules_api,
        api_token=SecretStr(config.auth.reader()),  # the console reads crm-sync's sync status
    )
    return app
