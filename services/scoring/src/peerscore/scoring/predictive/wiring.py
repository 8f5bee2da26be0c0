"""How the scoring app assembles the predictive pieces, kept here so ``app.py`` only gains a few lines.

The ``/v1/models`` routes live in :mod:`.model_routes`; their drift thresholds reach them through the app's
:class:`~peerscore.scoring.deps.ApiContext`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from .online import BatchPredictor
from .settings import PredictiveSettings

__all__ = ["PredictiveSettings", "predictor_for"]


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
