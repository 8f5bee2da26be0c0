"""How the console is assembled: its router (every page module bound to one :class:`ConsoleDeps`) and how the
scoring app mounts it, kept here so ``app.py`` only gains a few lines."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from fastapi import APIRouter, Depends, FastAPI
from pydantic import SecretStr
from sqlalchemy import Engine

from peerscore.scoring.backtest.jobs import BacktestJobs
from peerscore.scoring.rulesets.watcher import LiveRuleset
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import RuntimeSettings

from . import explore_pages, insights_pages, preview_pages, publish_pages, rules_pages, signals_pages, signin_pages
from .actions import RulesetActions
from .auth import ConsoleAuth
from .crm import CrmSyncClient
from .html import BASE
from .sessions import DatabaseRevocations
from .settings import ConsoleSettings
from .web import ConsoleDeps

log = structlog.get_logger(__name__)
PAGES = (signin_pages, rules_pages, publish_pages, preview_pages, explore_pages, signals_pages, insights_pages)


def console_router(deps: ConsoleDeps) -> APIRouter:
    """Every console route under ``/console``, working on ``deps`` (the ``Console`` alias in :mod:`.web`)."""
    router = APIRouter(dependencies=[Depends(deps.bind)])
    for module in PAGES:
        router.include_router(module.router, prefix=BASE, tags=["console"], include_in_schema=False)
    return router


def mount_console(
    app: FastAPI,
    *,
    settings: ConsoleSettings,
    runtime: RuntimeSettings,
    scoring: ScoringSettings,
    engine: Callable[[], Engine],
    live: LiveRuleset,
    backtests: BacktestJobs,
    rulesets_router: APIRouter,
    api_token: SecretStr,
) -> None:
    """``api_token`` is what crm-sync expects (its read token); the console's own token is separate. ``engine``
    is asked per use by the sign-out store (the app opens its engine in the lifespan, after this); pages read it
    from the app per request."""
    if not settings.enabled(runtime):
        log.warning("console_disabled", reason="CONSOLE_ADMIN_TOKEN is not set outside dev")
        return
    deps = ConsoleDeps(
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
