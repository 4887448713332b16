"""scikit-survival baselines of the survival task: penalised Cox with an inner-CV penalty,
a random survival forest and gradient-boosted Cox trees.

Every fitted model's ``predict`` gives a risk score ``[n]`` (higher = earlier event) on a
log-hazard scale, so that the Breslow baseline hazard of the training part turns it into
survival curves the same way as a deep Cox head's score.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.metrics import concordance_index_censored

from biozoo.tasks.estimators import as_matrix, thread_limit

__all__ = [
    "COXNET_L1_RATIO",
    "CoxnetCV",
    "RSF_TREES",
    "fit_survival_estimator",
    "structured",
]

COXNET_L1_RATIO = 0.5
"""Elastic-net mixing of the penalised Cox model (1 = lasso, towards 0 = ridge)."""
COXNET_ALPHAS = 30
"""Penalties on the path searched by the inner CV."""
INNER_FOLDS = 5
RSF_TREES = 200
"""Trees of the random survival forest."""
RSF_MIN_LEAF = 5


def structured(target: np.ndarray) -> np.ndarray:
    """scikit-survival's structured array (``event`` bool, ``time`` float) of a ``[n, 2]``
    (time, event) target."""
    target = np.asarray(target, dtype=np.float64)
    out = np.empty(len(target), dtype=[("event", bool), ("time", np.float64)])
    out["event"], out["time"] = target[:, 1] > 0.5, target[:, 0]
    return out


class CoxnetCV:
    """Elastic-net penalised Cox regression with the penalty chosen by inner cross-validation.

    The penalty path (``COXNET_ALPHAS`` values down to 1% of the largest) comes from a fit on
    the whole training part; each inner fold (stratified by event) refits the path and scores
    every penalty by Harrell's C-index on its held-out part; the penalty with the best mean
    C-index is used by :meth:`predict`.

    Args:
        seed: random state of the inner folds.
        l1_ratio: elastic-net mixing.
    """

    def __init__(self, *, seed: int = 0, l1_ratio: float = COXNET_L1_RATIO) -> None:
        self.seed, self.l1_ratio = seed, l1_ratio
        self.alpha_: float | None = None
        self.model_: CoxnetSurvivalAnalysis | None = None

    def _path(self, alphas: np.ndarray | None = None) -> CoxnetSurvivalAnalysis:
        options: dict[str, Any] = {"l1_ratio": self.l1_ratio, "fit_baseline_model": False}
        if alphas is None:
            options |= {"n_alphas": COXNET_ALPHAS, "alpha_min_ratio": 0.01}
        else:
            options["alphas"] = alphas
        return CoxnetSurvivalAnalysis(**options)

    def fit(self, X: np.ndarray, y: np.ndarray) -> CoxnetCV:
        """Fit on features ``X [n, p]`` and a structured survival array ``y``."""
        with warnings.catch_warnings():
            # late penalties of a path may stop short of convergence; the CV judges them
            warnings.simplefilter("ignore")
            self.model_ = self._path().fit(X, y)
            alphas = self.model_.alphas_
            scores = np.zeros(len(alphas))
            n_folds = min(INNER_FOLDS, int(y["event"].sum()), int((~y["event"]).sum()))
            if n_folds >= 2:
                folds = StratifiedKFold(n_folds, shuffle=True, random_state=self.seed)
                for fit, val in folds.split(X, y["event"]):
                    inner = self._path(alphas).fit(X[fit], y[fit])
                    for a, alpha in enumerate(alphas):
                        risk = inner.predict(X[val], alpha=alpha)
                        scores[a] += _c_index(y[val], risk)
        self.alpha_ = float(alphas[int(np.argmax(scores))])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Linear predictors (log-hazard ratios) at the chosen penalty."""
        assert self.model_ is not None, "CoxnetCV must be fitted before predict"
        return np.asarray(self.model_.predict(X, alpha=self.alpha_), dtype=np.float64)


def _c_index(y: np.ndarray, risk: np.ndarray) -> float:
    if not y["event"].any():
        return 0.5
    return float(concordance_index_censored(y["event"], y["time"], risk)[0])


class _LogRisk:
    """A fitted forest whose risk (expected number of events) is given on a log scale."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(np.asarray(self.estimator.predict(X), np.float64), 1e-8))


class SurvivalModel:
    """A fitted survival estimator; ``predict`` gives risk scores under the thread cap."""

    def __init__(self, model: Any, n_jobs: int) -> None:
        self.model, self.n_jobs = model, n_jobs

    def predict(self, X: np.ndarray) -> np.ndarray:
        with thread_limit(self.n_jobs):
            return np.asarray(self.model.predict(as_matrix(X)), dtype=np.float64)


def _coxnet(seed: int, n_jobs: int) -> Any:
    return CoxnetCV(seed=seed)


def _forest(seed: int, n_jobs: int) -> Any:
    return RandomSurvivalForest(
        n_estimators=RSF_TREES,
        min_samples_leaf=RSF_MIN_LEAF,
        max_features="sqrt",
        low_memory=True,
        random_state=seed,
        n_jobs=n_jobs,
    )


def _boosting(seed: int, n_jobs: int) -> Any:
    return GradientBoostingSurvivalAnalysis(random_state=seed)


_ESTIMATORS = {"linear": _coxnet, "random_forest": _forest, "gradient_boosting": _boosting}
_LOG_SCALE = {"random_forest"}


def fit_survival_estimator(
    family: str, X: np.ndarray, target: np.ndarray, *, seed: int, n_jobs: int
) -> SurvivalModel:
    """Fit ``family``'s survival estimator on ``X [n, p]`` and a ``[n, 2]`` (time, event)
    target."""
    X, y = as_matrix(X), structured(target)
    estimator = _ESTIMATORS[family](seed, n_jobs)
    with thread_limit(n_jobs):
        estimator = estimator.fit(X, y)
    model = _LogRisk(estimator) if family in _LOG_SCALE else estimator
    return SurvivalModel(model, n_jobs)
