"""Classical baselines that run on the same folds as the deep models.

Every claim "deep beats classical" in a biozoo leaderboard is measured against these. The
caller hands each baseline the fold's training matrix *after* the fold's transforms
(imputation, scaling, feature selection) and with the modalities concatenated, so the
baselines see exactly the features the deep models see, with no NaN.

All baselines share one contract:

* ``__init__(*, task, seed=0, n_jobs=1)``; ``task`` is ``"binary"``, ``"multiclass"`` or
  ``"regression"``.
* ``fit(X, y, *, n_classes=None) -> self``.
* ``predict(X)``: probabilities ``[n, C]`` (float64, rows sum to 1) for classification, even
  when a class was missing from the training fold (its column is 0); floats ``[n]`` for
  regression.
* Deterministic given ``seed`` (``random_state`` everywhere).

Example:
    >>> model = BASELINES.get("random_forest")(task="binary", seed=0)
    >>> proba = model.fit(X_train, y_train, n_classes=2).predict(X_test)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from biozoo.registry import Registry

__all__ = ["BASELINES", "TASKS", "Baseline"]

logger = logging.getLogger(__name__)

TASKS = ("binary", "multiclass", "regression")

BASELINES: Registry[type[Baseline]] = Registry("baseline")


class Baseline:
    """Shared fit/predict logic; subclasses only say which scikit-learn estimator to build.

    Args:
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        seed: seed for every ``random_state`` (and the inner CV split).
        n_jobs: parallel jobs for estimators that accept it (``-1`` = all cores).
    """

    label: ClassVar[str] = "baseline"

    @classmethod
    def label_for(cls, task: str) -> str:
        """The method's name in leaderboards for ``task`` (default: :attr:`label`)."""
        return cls.label

    def __init__(self, *, task: str, seed: int = 0, n_jobs: int = 1) -> None:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        self.task = task
        self.seed = seed
        self.n_jobs = n_jobs
        self.n_classes: int | None = None
        self.estimator_: Any = None
        self._classes: np.ndarray | None = None

    @property
    def is_classifier(self) -> bool:
        """Whether the task is binary or multiclass classification."""
        return self.task != "regression"

    def _build(self, X: np.ndarray, y: np.ndarray) -> Any:
        """The unfitted scikit-learn estimator for this task and training data."""
        raise NotImplementedError

    def fit(self, X: np.ndarray, y: np.ndarray, *, n_classes: int | None = None) -> Baseline:
        """Fits the baseline on one fold's training part.

        Args:
            X: features, already imputed / scaled / selected, no NaN.
            y: int class codes ``0..C-1`` (classification) or floats (regression).
            n_classes: number of classes ``C`` of the whole cohort, so that predictions have
                ``C`` columns even if a class is absent from this training fold. Defaults to
                2 for binary and ``max(y) + 1`` for multiclass; ignored for regression.

        Returns:
            ``self``.

        Shape:
            - X: ``[n, p]``
            - y: ``[n]``
        """
        X = _as_matrix(X)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        if self.is_classifier:
            y = self._check_labels(y, n_classes)
            self._classes = np.unique(y)
            if len(self._classes) < 2:
                logger.warning(
                    "%s: training fold holds only class %d; predicting it with probability 1",
                    self.label,
                    self._classes[0],
                )
                self.estimator_ = None
                return self
        else:
            y = y.astype(np.float64)
        estimator = self._build(X, y)
        with self._thread_limit():
            self.estimator_ = estimator.fit(X, y)
        if self.is_classifier:
            self._classes = np.asarray(self.estimator_.classes_, dtype=np.int64)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``[n, C]`` (classification) or values ``[n]`` (regression).

        Args:
            X: features transformed like the training part.

        Returns:
            float64 array; for classification columns follow class codes ``0..C-1`` and a
            class missing from the training fold has probability 0.
        """
        if self._classes is None and self.estimator_ is None:
            raise RuntimeError(f"{type(self).__name__} must be fitted before predict")
        X = _as_matrix(X)
        if not self.is_classifier:
            with self._thread_limit():
                return np.asarray(self.estimator_.predict(X), dtype=np.float64)
        assert self.n_classes is not None and self._classes is not None
        proba = np.zeros((X.shape[0], self.n_classes), dtype=np.float64)
        if self.estimator_ is None:  # one class in training: constant prediction
            proba[:, self._classes[0]] = 1.0
            return proba
        with self._thread_limit():
            proba[:, self._classes] = self.estimator_.predict_proba(X)
        return proba

    def _check_labels(self, y: np.ndarray, n_classes: int | None) -> np.ndarray:
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"{self.task} targets must be integer class codes")
        y = y.astype(np.int64)
        if n_classes is None:
            n_classes = 2 if self.task == "binary" else int(y.max()) + 1
        if self.task == "binary" and n_classes != 2:
            raise ValueError(f"binary task needs n_classes=2, got {n_classes}")
        if y.min() < 0 or y.max() >= n_classes:
            raise ValueError(f"class codes must lie in 0..{n_classes - 1}")
        self.n_classes = n_classes
        return y

    def _thread_limit(self) -> threadpool_limits:
        """Caps OpenMP/BLAS threads to ``n_jobs`` (no cap for ``n_jobs=-1``)."""
        return threadpool_limits(limits=None if self.n_jobs < 1 else self.n_jobs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, seed={self.seed}, n_jobs={self.n_jobs})"


def _as_matrix(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d matrix [n, p], got shape {X.shape}")
    return X
