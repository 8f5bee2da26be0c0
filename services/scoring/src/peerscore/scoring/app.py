"""Scoring service: the consumer loops on background threads plus the lead API, one process per worker.

``create_app(config, *, engine=None, publisher=None, start_consumers=True)`` is the shape all three services
share. Building the app does no I/O and builds no engine: the lifespan creates the engine (unless injected) and
puts it on ``app.state.engine``, prepares the schema, starts the ruleset watcher and the consumers, and closes all
of it again (an injected engine stays the caller's, never disposed here). Routes and console pages are
module-level functions that read what they need, the engine included, through :mod:`peerscore.scoring.deps`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from peerscore.scoring.deps import ApiContext
from peerscore.scoring.identity import erasure_routes
from peerscore.scoring.insights import insights_routes
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.outcomes import outcome_routes
from peerscore.scoring.predictive import model_routes
from peerscore.scoring.rulesets.ruleset_routes import rulesets_router
from peerscore.scoring.rulesets.wiring import LazyPublisher, build_live_ruleset, start_watching

__all__ = ["ScoringConfig", "create_app"]

JSON_ROUTERS = (
    lead_routes.router,  # read token: leads, accounts, models, backtests (what-if runs change nothing)
    account_routes.router,
    signal_routes.router,
    insights_routes.router,
    backtest_routes.router,
    model_routes.router,  # admin token: promotion, rollback, clearing the challenger
    outcome_routes.router,  # admin token: outcomes are the model's labels
    erasure_routes.router,  # admin token
)


class _Parts:
    """What one app instance is made of. Built with the app, doing no I/O; the lifespan opens the engine (unless
    injected), starts ``background`` and closes all of it again. What needs the database at use time (the live
    ruleset's registry fallback, backtests, console sign-outs) asks :meth:`current_engine`."""

    def __init__(self, config: ScoringConfig, engine: Engine | None, publisher: Publisher | None) -> None:
        self.config = config
        self.engine: Engine | None = None
        """The lifespan's engine while it runs (also on ``app.state.engine``, where routes read it)."""
        self.given_engine = engine
        self.injected_publisher = publisher
        self.rules_publisher = LazyPublisher(lambda: make_publisher(config.kafka, "scoring-rules"))
        """Opened on first use: rulesets and erasures are published rarely, and not at all in most tests."""
        # The ruleset is hot-reloaded: everything that scores asks live.current (rules topic, else registry,
        # else the configured default).
        self.live = build_live_ruleset(
            engine=self.current_engine,
            kafka=config.kafka,
            scoring=config.scoring,
            default=config.scoring.load_ruleset(),
        )
        self.backtests = BacktestJobs(self.current_engine, self.live.current, workers=config.scoring.backtest_workers)
        self.registry = CollectorRegistry()
        self.background: Background | None = None

    def current_engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("the database is opened by the app's lifespan, which is not running")
        return self.engine

    @property
    def publisher(self) -> Publisher:
        """What the API publishes with (rulesets, erasure orders): the injected publisher, else the lazy one."""
        return self.injected_publisher or self.rules_publisher

    def check_database(self) -> None:
        database_check(self.current_engine())()

    def check_consumer(self) -> None:
        if self.background is not None:
            self.background.check()

    def checks(self) -> dict[str, ReadinessCheck]:
        return {
            "database": self.check_database,
            "broker": broker_check(self.config.kafka.bootstrap_servers),
            "consumer": self.check_consumer,
            "ruleset": self.live.check,
        }

    async def start(self, app: FastAPI, start_consumers: bool) -> None:
        config = self.config
        engine = self.given_engine or make_engine(config.database.database_url, echo=config.database.database_echo)
        app.state.engine = self.engine = engine
        prepare_schema(engine, SCORING_TABLES)  # Alembic migrations (a no-op once the Helm Job has run)
        if start_consumers:
            await start_watching(self.live, config.scoring.ruleset_startup_timeout_s)
            self.background = start_background(
                config,
                engine=engine,
                ruleset=self.live.current,
                publisher=self.injected_publisher,
                registry=self.registry,
            )

    def close(self, app: FastAPI) -> None:
        if self.background is not None:
            self.background.stop()
            self.background = None
        self.backtests.cancel_all()
        self.live.stop()
        self.rules_publisher.close()
        engine, self.engine, app.state.engine = self.engine, None, None
        if engine is not None and self.given_engine is None:
            engine.dispose()


@asynccontextmanager
async def _lifespan(parts: _Parts, start_consumers: bool, app: FastAPI) -> AsyncIterator[None]:
    try:
        await parts.start(app, start_consumers)
        yield
    finally:
        parts.close(app)


def create_app(
    config: ScoringConfig,
    *,
    engine: Engine | None = None,
    publisher: Publisher | None = None,
    start_consumers: bool = True,
) -> FastAPI:
    """Build the app. A given ``engine`` or ``publisher`` stays the caller's; ``start_consumers=False`` serves
    the APIs and the console without a broker (tests, looking at a database)."""
    parts = _Parts(config, engine, publisher)
    app = FastAPI(title="Peerscore scoring", lifespan=partial(_lifespan, parts, start_consumers))
    app.add_middleware(RefuseNulInUrl)  # PostgreSQL cannot take a NUL: 400, not a DataError
    install_error_handlers(app)
    app.include_router(health_router(parts.registry, parts.checks()))
    access = api_access(config.auth, config.runtime)
    app.state.api = ApiContext(  # what the routes read (deps.py); the engine comes with the lifespan
        ruleset=parts.live.current,
        access=access,
        publisher=parts.publisher,
        events_topic=config.kafka.topics().events,
        person_key_secret=config.person_key_secret(),
        backtests=parts.backtests,
        drift_warn=config.predictive.drift_warn_psi,
        drift_alert=config.predictive.drift_alert_psi,
    )
    for router in JSON_ROUTERS:
        app.include_router(router)
    rules_api = rulesets_router(
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
        engine=parts.current_engine,
        live=parts.live,
        backtests=parts.backtests,
        rulesets_router=rules_api,
        api_token=SecretStr(config.auth.reader()),  # the console reads crm-sync's sync status
    )
    return app
