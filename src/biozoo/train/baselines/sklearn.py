"""The scikit-learn baselines: ``linear``, ``random_forest`` and ``gradient_boosting``."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV
from sklearn.model_selection import StratifiedKFold

from biozoo.train.baselines._base import BASELINES, Baseline

__all__ = ["GradientBoostingBaseline", "LinearBaseline", "RandomForestBaseline"]

logger = logging.getLogger(__name__)


@BASELINES.register("linear")
class LinearBaseline(Baseline):
    """L2-penalized logistic regression (classification) or ridge regression, with the
    penalty strength chosen by an inner cross-validation on the training fold.

    Classification: ``LogisticRegressionCV`` over ``Cs=10`` values (log-spaced 1e-4..1e4),
    scored by log loss on an inner stratified k-fold with ``k = min(5, smallest class
    count)``. If the smallest class has a single sample no inner CV is possible and a plain
    ``LogisticRegression(C=1.0)`` is fitted instead (logged as a warning).

    Regression: ``RidgeCV`` over ``ALPHAS`` with efficient leave-one-out inner CV.
    """

    label = "logistic/ridge (CV)"
    ALPHAS: ClassVar[np.ndarray] = np.logspace(-3, 5, 17)
    MAX_ITER: ClassVar[int] = 5000
    TASK_LABELS: ClassVar[dict[str, str]] = {"regression": "ridge (CV)"}

    @classmethod
    def label_for(cls, task: str) -> str:
        """``ridge (CV)`` for regression, where no logistic model is fitted."""
        return cls.TASK_LABELS.get(task, cls.label)

    def _build(self, X: np.ndarray, y: np.ndarray) -> Any:
        if not self.is_classifier:
            return RidgeCV(alphas=self.ALPHAS)
        smallest = int(np.bincount(y)[np.unique(y)].min())
        n_folds = min(5, smallest)
        if n_folds < 2:
            logger.warning(
                "%s: a class has one training sample; no inner CV, using C=1.0", self.label
            )
            return LogisticRegression(C=1.0, max_iter=self.MAX_ITER, random_state=self.seed)
        return LogisticRegressionCV(
            **_logistic_cv_l2_kwargs(),
            Cs=10,
            cv=StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=self.seed),
            scoring="neg_log_loss",
            max_iter=self.MAX_ITER,
            random_state=self.seed,
            n_jobs=self.n_jobs,
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


@BASELINES.register("random_forest")
class RandomForestBaseline(Baseline):
    """Random forest of ``N_TREES`` fully grown trees (scikit-learn defaults otherwise)."""

    label = "random forest"
    N_TREES: ClassVar[int] = 500

    def _build(self, X: np.ndarray, y: np.ndarray) -> Any:
        cls = RandomForestClassifier if self.is_classifier else RandomForestRegressor
        return cls(n_estimators=self.N_TREES, random_state=self.seed, n_jobs=self.n_jobs)


@BASELINES.register("gradient_boosting")
class GradientBoostingBaseline(Baseline):
    """Histogram gradient boosting with scikit-learn's default settings and no early
    stopping, so the fit is deterministic (no random validation split)."""

    label = "gradient boosting"

    def _build(self, X: np.ndarray, y: np.ndarray) -> Any:
        cls = (
            HistGradientBoostingClassifier if self.is_classifier else HistGradientBoostingRegressor
        )
        return cls(early_stopping=False, random_state=self.seed)
