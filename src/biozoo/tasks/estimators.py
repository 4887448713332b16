"""scikit-learn estimators of the classical baselines, per task family.

The baselines (``linear``, ``random_forest``, ``gradient_boosting``) are families; which
estimator a family means depends on the task (logistic regression or ridge, a random forest
classifier or regressor, ...). Each task's :meth:`~biozoo.tasks.base.Task.baseline` calls
one of the ``fit_*`` functions here, which return a fitted model whose ``predict`` gives the
task's prediction shape:

* :func:`fit_classifier`: probabilities ``[n, C]`` (float64, rows sum to 1), even when a class
  is missing from the training fold (its column is 0); a fold with a single class predicts it
  with probability 1.
* :func:`fit_regressor`: values ``[n]``.

Every fit is deterministic given ``seed`` and capped to ``n_jobs`` BLAS/OpenMP threads.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

__all__ = [
    "LOGISTIC_MAX_ITER",
    "N_TREES",
    "RIDGE_ALPHAS",
    "as_matrix",
    "fit_classifier",
    "fit_regressor",
    "thread_limit",
]

logger = logging.getLogger(__name__)

N_TREES = 500
"""Trees of the random forests (fully grown; scikit-learn defaults otherwise)."""
RIDGE_ALPHAS = np.logspace(-3, 5, 17)
"""Ridge penalties searched by efficient leave-one-out CV."""
LOGISTIC_MAX_ITER = 5000


def thread_limit(n_jobs: int) -> threadpool_limits:
    """Caps OpenMP/BLAS threads to ``n_jobs`` (no cap for ``n_jobs=-1``)."""
    return threadpool_limits(limits=None if n_jobs < 1 else n_jobs)


def as_matrix(X: np.ndarray) -> np.ndarray:
    """``X`` as a float64 matrix ``[n, p]``."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d matrix [n, p], got shape {X.shape}")
    return X


class FittedEstimator:
    """A fitted scikit-learn estimator whose ``predict`` runs under the thread cap."""

    def __init__(self, estimator: Any, n_jobs: int) -> None:
        self.estimator, self.n_jobs = estimator, n_jobs

    def predict(self, X: np.ndarray) -> np.ndarray:
        with thread_limit(self.n_jobs):
            return np.asarray(self.estimator.predict(as_matrix(X)), dtype=np.float64)


class FittedClassifier:
    """Class probabilities over all ``n_classes`` codes from a fitted classifier (or a
    constant when the training fold held one class)."""

    def __init__(self, estimator: Any, classes: np.ndarray, n_classes: int, n_jobs: int) -> None:
        self.estimator, self.classes, self.n_classes, self.n_jobs = (
            estimator,
            classes,
            n_classes,
            n_jobs,
        )

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = as_matrix(X)
        proba = np.zeros((X.shape[0], self.n_classes), dtype=np.float64)
        if self.estimator is None:  # one class in training: constant prediction
            proba[:, self.classes[0]] = 1.0
            return proba
        with thread_limit(self.n_jobs):
            proba[:, self.classes] = self.estimator.predict_proba(X)
        return proba


def fit_classifier(
    family: str,
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    seed: int,
    n_jobs: int,
    label: str,
) -> FittedClassifier:
    """Fit the classifier of ``family`` on class codes ``y`` (``0..n_classes-1``)."""
    X, y = _checked(X, y)
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"class codes must lie in 0..{n_classes - 1}")
    classes = np.unique(y)
    if len(classes) < 2:
        logger.warning(
            "%s: training fold holds only class %d; predicting it with probability 1",
            label,
            classes[0],
        )
        return FittedClassifier(None, classes, n_classes, n_jobs)
    estimator = _CLASSIFIERS[family](y, seed, n_jobs, label)
    with thread_limit(n_jobs):
        estimator = estimator.fit(X, y)
    classes = np.asarray(estimator.classes_, dtype=np.int64)
    return FittedClassifier(estimator, classes, n_classes, n_jobs)


def fit_regressor(
    family: str, X: np.ndarray, y: np.ndarray, *, seed: int, n_jobs: int
) -> FittedEstimator:
    """Fit the regressor of ``family`` on float targets ``y``."""
    X, y = _checked(X, y)
    estimator = _REGRESSORS[family](seed, n_jobs)
    with thread_limit(n_jobs):
        estimator = estimator.fit(X, y.astype(np.float64))
    return FittedEstimator(estimator, n_jobs)


def _checked(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X, y = as_matrix(X), np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    return X, y


def _logistic(y: np.ndarray, seed: int, n_jobs: int, label: str) -> Any:
    """L2 logistic regression, ``C`` chosen by log loss over ``Cs=10`` on an inner stratified
    k-fold with ``k = min(5, smallest class count)``; plain ``C=1`` when a class has a single
    training sample."""
    smallest = int(np.bincount(y)[np.unique(y)].min())
    n_folds = min(5, smallest)
    if n_folds < 2:
        logger.warning("%s: a class has one training sample; no inner CV, using C=1.0", label)
        return LogisticRegression(C=1.0, max_iter=LOGISTIC_MAX_ITER, random_state=seed)
    return LogisticRegressionCV(
        **_logistic_cv_l2_kwargs(),
        Cs=10,
        cv=StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed),
        scoring="neg_log_loss",
        max_iter=LOGISTIC_MAX_ITER,
        random_state=seed,
        n_jobs=n_jobs,
    )


def _logistic_cv_l2_kwargs() -> dict[str, Any]:
    """Keywords asking ``LogisticRegressionCV`` for a plain L2 path on every supported
    scikit-learn: from 1.8 the penalty is spelled ``l1_ratios=(0.0,)`` (``penalty`` is
    deprecated) and the fitted-attribute layout must be chosen to avoid a FutureWarning."""
    defaults = LogisticRegressionCV().get_params()
    if defaults.get("penalty") != "deprecated":
        return {}  # scikit-learn < 1.8: the default penalty is "l2"
    kwargs: dict[str, Any] = {"l1_ratios": (0.0,)}
    if "use_legacy_attributes" in defaults:
        kwargs["use_legacy_attributes"] = False
    return kwargs


_CLASSIFIERS = {
    "linear": _logistic,
    "random_forest": lambda y, seed, n_jobs, label: RandomForestClassifier(
        n_estimators=N_TREES, random_state=seed, n_jobs=n_jobs
    ),
    "gradient_boosting": lambda y, seed, n_jobs, label: HistGradientBoostingClassifier(
        early_stopping=False, random_state=seed
    ),
}
_REGRESSORS = {
    "linear": lambda seed, n_jobs: RidgeCV(alphas=RIDGE_ALPHAS),
    "random_forest": lambda seed, n_jobs: RandomForestRegressor(
        n_estimators=N_TREES, random_state=seed, n_jobs=n_jobs
    ),
    "gradient_boosting": lambda seed, n_jobs: HistGradientBoostingRegressor(
        early_stopping=False, random_state=seed
    ),
}
