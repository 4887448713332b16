"""The baseline families ``linear``, ``random_forest`` and ``gradient_boosting``.

Each task builds its own estimator for a family (:meth:`biozoo.tasks.base.Task.baseline`):
scikit-learn's for classification and regression (:mod:`biozoo.tasks.estimators`),
scikit-survival's for survival (:mod:`biozoo.tasks.survival_estimators`).
"""

from __future__ import annotations

from biozoo.train.baselines._base import BASELINES, Baseline

__all__ = ["GradientBoostingBaseline", "LinearBaseline", "RandomForestBaseline"]


@BASELINES.register("linear")
class LinearBaseline(Baseline):
    """A penalised linear model, the penalty chosen by inner cross-validation on the training
    fold: L2 logistic regression (log loss), ridge regression (leave-one-out), or penalised
    Cox regression (C-index), as the task says."""

    family = "linear"


@BASELINES.register("random_forest")
class RandomForestBaseline(Baseline):
    """A random forest: classifier, regressor or survival forest, as the task says."""

    family = "random_forest"


@BASELINES.register("gradient_boosting")
class GradientBoostingBaseline(Baseline):
    """Gradient boosting without early stopping (a deterministic fit), as the task says."""

    family = "gradient_boosting"
