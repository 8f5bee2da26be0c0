"""The simple baseline the model card sets beside LightGBM: logistic regression on the same features.

Boosted trees earn their keep only if they beat something plain; a logistic regression (missing values
imputed with the training median, features standardised) is that plain thing. It is fitted on every row
before the held-out test period (train, valid and calib: it has no early stopping or calibrator to feed), and
its probabilities are scored on exactly the test rows the model and the rules are.
"""

from __future__ import annotations

import numpy as np
from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

NAME = "logistic_regression"


def fit_predict(features: np.ndarray, labels: np.ndarray, test_features: np.ndarray, seed: int = 7) -> np.ndarray:
    """Fit on ``features``/``labels`` and return P(converted) for ``test_features``.

    Columns that are missing on every fitting row are kept (filled with 0) so fit and predict see the same
    shape; infinities are treated as missing.
    """
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000, random_state=seed),
    )
    model.fit(_finite(features), labels.astype(int))
    return np.asarray(model.predict_proba(_finite(test_features))[:, 1], dtype=float)


def _finite(matrix: np.ndarray) -> np.ndarray:
    out = np.asarray(matrix, dtype=float).copy()
    out[~np.isfinite(out)] = np.nan
    return out
