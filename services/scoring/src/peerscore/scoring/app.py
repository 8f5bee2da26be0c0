"""Scoring service: the consumer loop on a background thread plus the lead API, one process per worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import Engine

from peerscore.api import RefuseNulInUrl, api_access
from peerscore.db import database_check, make_engine, prepare_schema
from peerscore.kafka_io import KafkaPublisher, Publisher, make_publisher
from peerscore.observability import ReadinessCheck, health_router
from peerscore.runtime import BackgroundLoop, broker_check
from peerscore.scoring.accounts_api import accounts_router
from peerscore.scoring.api import leads_router
from peerscore.scoring.backtest.api import backtests_router
from peerscore.scoring.backtest.jobs import BacktestJobs
from peerscore.scoring.console import ConsoleSettings
from peerscore.scoring.console.wiring import mount_console
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.identity.api import people_router
from peerscore.scoring.identity.batch import PrivacyConfig
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.outcomes.api import outcomes_router
from peerscore.scoring.outcomes.consumer import outcome_loop
from peerscore.scoring.predictive.wiring import PredictiveSettings, models_router, predictor_for
from peerscore.scoring.rulesets.ruleset_routes import rulesets_router
from peerscore.scoring.rulesets.wiring import LazyPublisher, build_live_ruleset, start_watching
from peerscore.scoring.settings import ScoringSettings
from peerscore.scoring.sweeper import DecaySweeper
from peerscore.scoring.worker import scoring_loop
from peerscore.settings import ApiAuthSettings, DatabaseSettings, IdentitySettings, KafkaSettings, RuntimeSettings


@dataclass(frozen=True)
class ScoringConfig:
    runtime: RuntimeSettings
    kafka: KafkaSettings
    database: DatabaseSettings
    scoring: ScoringSettings
    auth: ApiAuthSettings
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    predictive: PredictiveSettings = field(default_factory=PredictiveSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)


def create_app(
    config: ScoringConfig,
    *,
    engine: Engine | None = None,
    publisher: Publisher | None = None,
    start_consumer: bool = True,
) -> FastAPI:
    """Build the app; clients are created in the lifespan (never at import) unless injected."""
    registry = CollectorRegistry()
    default_ruleset: Ruleset = config.scoring.load_ruleset()
    eng = engine or make_engine(config.database.database_url, echo=config.database.database_echo)
    prepare_schema(eng, SCORING_TABLES)  # Alembic migrations (a no-op once the Helm Job has run)
    # The ruleset is hot-reloaded: everything that scores asks live.current (rules topic, else registry, else default).
    live = build_live_ruleset(engine=eng, kafka=config.kafka, scoring=config.scoring, default=default_ruleset)
    rules_publisher = LazyPublisher(lambda: make_publisher(config.kafka, "scoring-rules"))
    checks: dict[str, ReadinessCheck] = {
        "database": database_check(eng),
        "broker": broker_check(config.kafka.bootstrap_servers),
    }
    state: dict[str, BackgroundLoop] = {}
    backtests = BacktestJobs(eng, live.current, workers=config.scoring.backtest_workers)

    def consumer_running() -> None:
        if "loop" in state:
            state["loop"].check()

    checks["consumer"] = consumer_running
    checks["ruleset"] = live.check

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        own_publisher: KafkaPublisher | None = None
        sweeper: DecaySweeper | None = None
        if start_consumer:
            await start_watching(live, config.scoring.ruleset_startup_timeout_s)
            pub = publisher
            if pub is None:
                own_publisher = make_publisher(config.kafka, "scoring")
                pub = own_publisher
            loop = scoring_loop(
                config.kafka,
                engine=eng,
                ruleset=live.current,
                publisher=pub,
                group_id=config.scoring.group_id,
                registry=registry,
                keep_history=config.scoring.keep_history,
                crm_leads=config.scoring.crm_leads,
                predictor=predictor_for(config.predictive, registry),
                privacy=PrivacyConfig(
                    secret=config.identity.person_key_secret.get_secret_value().encode(),
                    dedup_window=timedelta(days=config.scoring.dedup_window_days),
                ),
            )
            state["loop"] = BackgroundLoop(loop, "scoring-consumer")
            state["loop"].start()
            outcomes = outcome_loop(
                kafka=config.kafka, group_id=f"{config.scoring.group_id}-outcomes", engine=eng, publisher=pub
            )
            state["outcomes"] = BackgroundLoop(outcomes, "scoring-outcomes")
            state["outcomes"].start()
            if config.scoring.decay_sweep_interval_s > 0:
                sweeper = DecaySweeper(
                    engine=eng,
                    ruleset=live.current,
                    publisher=pub,
                    events_topic=config.kafka.topics().events,
                    interval_s=config.scoring.decay_sweep_interval_s,
                )
                sweeper.start()
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.stop()
            if "loop" in state:
                state["loop"].stop()
            if "outcomes" in state:
                state["outcomes"].stop()
            backtests.cancel_all()
            live.stop()
            rules_publisher.close()
            if own_publisher is not None:
                own_publisher.close()
            if engine is None:
                eng.dispose()

    app = FastAPI(title="Peerscore scoring", lifespan=lifespan)
    app.add_middleware(RefuseNulInUrl)  # PostgreSQL cannot take a NUL: 400, not a DataError
    app.include_router(health_router(registry, checks))
    access = api_access(config.auth, config.runtime)  # read: leads, accounts, models, backtests; admin: changes
    app.include_router(leads_router(eng, live.current, access.read))
    app.include_router(accounts_router(eng, live.current, access.read))
    secret = config.identity.person_key_secret.get_secret_value().encode()
    app.include_router(outcomes_router(eng, secret, access.admin))  # outcomes are the model's labels
    events_topic = config.kafka.topics().events
    app.include_router(people_router(eng, publisher or rules_publisher, events_topic, secret, access.admin))
    app.include_router(backtests_router(backtests, access.read))  # what-if runs change nothing
    app.include_router(models_router(eng, live.current, access.read, admin=access.admin, settings=config.predictive))
    rules_api = rulesets_router(
        engine=eng,
        publisher=publisher or rules_publisher,
        topic=config.kafka.topics().rules,
        live=live,
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
        engine=eng,
        live=live,
        backtests=backtests,
        rulesets_router=rules_api,
        api_token=SecretStr(config.auth.reader()),  # the console reads crm-sync's sync status
    )
    return app
