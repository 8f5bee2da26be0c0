"""The scale-out path: the same training through LightGBM's Dask integration on a small in-process cluster."""

from __future__ import annotations

from dataclasses import replace

import lightgbm as lgb

from peerscore.scoring.predictive.training import train_model

from .support import TINY, training_set


def test_dask_training_gives_a_calibrated_model_with_a_card() -> None:
    """LocalCluster(processes=False, 1 worker): a few seconds; the same card as the local path."""
    result = train_model(training_set(), replace(TINY, dask=True))
    assert result.model_text is not None and result.card["engine"] == "lightgbm.dask"
    assert 1 <= result.card["best_iteration"] <= TINY.num_boost_round
    assert result.card["test"]["model"]["roc_auc"] > 0.7
    booster = lgb.Booster(model_str=result.model_text)
    assert booster.num_feature() == len(training_set().spec.names)
