"""Predictive scoring settings (env prefix ``PREDICTIVE_``), built at the entry point and passed in."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PredictiveSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PREDICTIVE_", extra="ignore")

    enabled: bool = True
    """Score each batch with the champion model (when one is promoted)."""
    check_interval_s: float = Field(default=2.0, ge=0)
    """How often a worker asks the registry whether the champion/challenger changed (one tiny query)."""
    reason_threshold: float = Field(default=0.5, ge=0, le=1)
    """Leads whose probability reaches this from below get the model's reasons in words (pred_contrib)."""
    record_predictions: bool = True
    """While a challenger runs in shadow, keep both probabilities per scored lead version (``model_prediction``)."""
    min_positives: int = Field(default=50, ge=1)
    """Fewer positive outcomes than this and ``peerscore train`` trains nothing (rules only)."""
    horizon_days: float = Field(default=30, gt=0)
    snapshot_every_days: float = Field(default=7, gt=0)
    dask: bool = False
    dask_scheduler: str | None = None
    model_dir: Path = Path("var/models")
    drift_warn_psi: float = 0.1
    drift_alert_psi: float = 0.25
