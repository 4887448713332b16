"""Classical baselines that run on the same folds as the deep models.

Every claim "deep beats classical" in a biozoo leaderboard is measured against these. The
caller hands each baseline the fold's training matrix *after* the fold's transforms
(imputation, scaling, feature selection) and with the modalities concatenated, so the
baselines see exactly the features the deep models see, with no NaN.

A baseline is a *family* (``linear``, ``random_forest``, ``gradient_boosting``); the task
picks the family's estimator (:meth:`~biozoo.tasks.base.Task.baseline`: logistic or ridge
regression, penalised Cox, a random forest classifier, regressor or survival forest...) and
its name in the leaderboard (:meth:`~biozoo.tasks.base.Task.baseline_label`).

All baselines share one contract:

* ``__init__(*, task, seed=0, n_jobs=1, accelerator="auto")`` with a
  :class:`~biozoo.tasks.base.Task` (``accelerator``, a run's ``training.accelerator``, is
  read by the baselines that run torch: the patient GCN);
* ``fit(X, y, *, n_classes=None) -> self``;
* ``predict(X)``: the task's prediction shape (probabilities ``[n, C]`` for classification,
  values ``[n]`` for regression, risk scores ``[n]`` for survival);
* deterministic given ``seed`` (``random_state`` everywhere).

Example:
    >>> model = BASELINES.get("random_forest")(task=TASKS.get("binary")(), seed=0)
    >>> proba = model.fit(X_train, y_train, n_classes=2).predict(X_test)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from biozoo.registry import Registry
from biozoo.tasks import BaselineModel, Task

__all__ = ["BASELINES", "Baseline"]

BASELINES: Registry[type[Baseline]] = Registry("baseline")


class Baseline:
    """A baseline family fitted through its task; subclasses name the family.

    Args:
        task: the task of the targets.
        seed: seed for every ``random_state`` (and the inner CV split).
        n_jobs: parallel jobs for estimators that accept it (``-1`` = all cores).
        accelerator: ``auto``, ``cpu`` or ``cuda``: where a baseline that runs torch trains.
    """

    family: ClassVar[str] = ""

    def __init__(
        self, *, task: Task, seed: int = 0, n_jobs: int = 1, accelerator: str = "auto"
    ) -> None:
        self.task, self.seed, self.n_jobs = task, seed, n_jobs
        self.accelerator = accelerator
        self.label = self.label_for(task)
        self.model_: BaselineModel | None = None

    @classmethod
    def label_for(cls, task: Task) -> str:
        """The method name in the leaderboard for ``task``.

        Raises:
            BiozooError: the family has no estimator for the task.
        """
        return task.baseline_label(cls.family)

    def fit(self, X: np.ndarray, y: np.ndarray, *, n_classes: int | None = None) -> Baseline:
        """Fits the baseline on one fold's training part.

        Args:
            X: features, already imputed / scaled / selected, no NaN.
            y: the training target as the cohort holds it.
            n_classes: number of classes of the whole cohort, so that predictions have a
                column per class even if a class is absent from this training fold.

        Returns:
            ``self``.
        """
        self.model_ = self._fit(X, y, n_classes)
        return self

    def _fit(self, X: np.ndarray, y: np.ndarray, n_classes: int | None) -> BaselineModel:
        return self.task.baseline(
            self.family, X, y, n_classes=n_classes, seed=self.seed, n_jobs=self.n_jobs
        )

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The task's predictions for the rows of ``X`` (transformed like the training part)."""
        if self.model_ is None:
            raise RuntimeError(f"{type(self).__name__} must be fitted before predict")
        return self.model_.predict(X)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, seed={self.seed}, n_jobs={self.n_jobs})"


