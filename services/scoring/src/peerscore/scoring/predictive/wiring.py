"""How the scoring app assembles the predictive pieces, kept here so ``app.py`` only gains a few lines."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from peerscore.scoring.domain.ruleset import Ruleset

from .api import models_router as _models_router
from .online import BatchPredictor
from .settings import PredictiveSettings

__all__ = ["PredictiveSettings", "models_router", "predictor_for"]


def predictor_for(settings: PredictiveSettings, registry: CollectorRegistry | None = None) -> BatchPredictor | None:
    """The worker's per-batch predictor, or None when predictive scoring is switched off."""
    if not settings.enabled:
        return None
    return BatchPredictor(
        check_interval_s=settings.check_interval_s,
        reason_threshold=settings.reason_threshold,
        record_predictions=settings.record_predictions,
        registry_=registry,
    )


def models_router(
    engine: Engine,
    ruleset: Callable[[], Ruleset],
    auth: Callable[..., None],
    *,
    admin: Callable[..., None] | None = None,
    settings: PredictiveSettings,
) -> APIRouter:
    return _models_router(
        engine, ruleset, auth, admin=admin, drift_warn=settings.drift_warn_psi, drift_alert=settings.drift_alert_psi
    )
