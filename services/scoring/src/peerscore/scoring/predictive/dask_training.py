"""The scale-out path: the same fit through LightGBM's Dask integration (``lightgbm.dask``).

When the history outgrows one machine, rows are spread over a Dask cluster and LightGBM trains one model across
the workers (its own socket-based allreduce). Point ``--dask-scheduler`` / ``PREDICTIVE_DASK_SCHEDULER`` at a
running scheduler; without one a LocalCluster (threads, one worker) runs here, which is what the test uses.
Early stopping works the same way (``early_stopping_round`` with the validation period as ``eval_set``).
Needs the scoring ``dask`` extra (dask[distributed], pandas).
"""

from __future__ import annotations

import warnings
from typing import Any

from .dataset import TrainingSet

CHUNK_ROWS = 50_000


def fit_with_dask(train: TrainingSet, valid: TrainingSet, params: dict[str, Any], config: Any) -> tuple[str, int]:
    """``(model text, best iteration)`` of a DaskLGBMClassifier fit on ``train``, early-stopped on ``valid``."""
    import dask.array as da
    from distributed import Client, LocalCluster
    from lightgbm.dask import DaskLGBMClassifier

    cluster = None
    if config.dask_scheduler:
        client = Client(config.dask_scheduler)
    else:
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
        client = Client(cluster)
    try:
        chunks = (CHUNK_ROWS, train.features.shape[1])
        X = da.from_array(train.features, chunks=chunks)
        y = da.from_array(train.labels, chunks=CHUNK_ROWS)
        Xv = da.from_array(valid.features, chunks=chunks)
        yv = da.from_array(valid.labels, chunks=CHUNK_ROWS)
        local = {k: v for k, v in params.items() if k not in {"objective", "metric", "num_threads"}}
        model = DaskLGBMClassifier(
            client=client,
            n_estimators=config.num_boost_round,
            early_stopping_round=config.early_stopping_rounds,
            **local,
        )
        with warnings.catch_warnings():
            # lightgbm.dask always sees the estimator's n_jobs and says it sets threads per Dask worker itself
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            model.fit(X, y, eval_X=(Xv,), eval_y=(yv,), eval_metric="binary_logloss")
        booster = model.to_local().booster_
        best = int(booster.best_iteration or booster.current_iteration())
        return booster.model_to_string(num_iteration=best), best
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
