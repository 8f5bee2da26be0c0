"""How the scoring app mounts the console, kept here so ``app.py`` only gains a few lines."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr
from sqlalchemy import Engine

from peerscore.scoring.backtest.jobs import BacktestJobs
from peerscore.scoring.rulesets.watcher import LiveRuleset
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import RuntimeSettings

from .actions import RulesetActions
from .auth import ConsoleAuth
from .crm import CrmSyncClient
from .routes import console_router
from .sessions import DatabaseRevocations
from .settings import ConsoleSettings
from .web import ConsoleDeps

log = structlog.get_logger(__name__)


def mount_console(
    app: FastAPI,
    *,
    settings: ConsoleSettings,
    runtime: RuntimeSettings,
    scoring: ScoringSettings,
    engine: Engine,
    live: LiveRuleset,
    backtests: BacktestJobs,
    rulesets_router: APIRouter,
    api_token: SecretStr,
) -> None:
    """``api_token`` is what crm-sync expects (its read token); the console's own token is separate."""
    if not settings.enabled(runtime):
        log.warning("console_disabled", reason="CONSOLE_ADMIN_TOKEN is not set outside dev")
        return
    deps = ConsoleDeps(
        engine=engine,
        live=live,
        ruleset_name=scoring.ruleset_name,
        default_text=scoring.ruleset_text,
        backtests=backtests,
        actions=RulesetActions(rulesets_router),
        crm=CrmSyncClient(
            settings.crm_sync_url, timeout_s=settings.crm_timeout_s, api_token=api_token.get_secret_value()
        ),
        auth=ConsoleAuth(settings, dev=runtime.is_dev, revocations=DatabaseRevocations(engine)),
    )
    app.include_router(console_router(deps))
