"""What a task is: one object that holds everything that depends on what is predicted.

A task (binary, multiclass, regression, survival, ...) says, in one place:

* which target keys a config gives it (:attr:`Task.Options`, validated by the task itself)
  and how the label columns become a target array (:meth:`Task.encode_target`);
* how many outputs a model needs and which head turns them into predictions and a loss
  (:meth:`Task.n_outputs`, :meth:`Task.head`);
* how the target is transformed for training on one fold (:meth:`Task.fit_target`) and how a
  saved transform is restored (:meth:`Task.load_target`);
* which labels the outer splits are stratified on (:meth:`Task.stratify_labels`) and what a
  table transform's ``top_k`` ranks features by (:meth:`Task.ranking_target`);
* its metrics, their direction, the leaderboard's primary metric and the few the terminal
  shows (:meth:`Task.metrics`, :attr:`Task.metric_names`, :attr:`Task.higher_is_better`,
  :attr:`Task.primary`, :attr:`Task.shown_metrics`);
* the classical baselines' estimators (:meth:`Task.baseline`, :meth:`Task.baseline_label`);
* the columns of ``predictions.csv`` (:meth:`Task.prediction_columns`);
* what attributions explain, in words (:meth:`Task.explained`; the head computes it), and
  GNNExplainer's mode (:attr:`Task.graph_explainer_mode`).

Tasks are registered by name in :data:`TASKS`; nothing else in biozoo dispatches on a task's
name. A new task is one module with a ``@TASKS.register("name")`` class.

Conventions: a cohort's target is a numpy array ``[n]`` (or ``[n, t]``, e.g. time and event
for survival) as :meth:`Task.encode_target` returns it; a prediction is what the head's
``prediction`` holds (``[n, C]`` probabilities, ``[n]`` values or risk scores).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from biozoo.errors import BiozooError
from biozoo.registry import Registry

__all__ = [
    "TASKS",
    "BaselineModel",
    "ColumnOptions",
    "EncodedTarget",
    "IdentityTarget",
    "RankingTarget",
    "Reference",
    "Task",
    "TargetOptions",
    "TargetTransform",
    "register_task",
]


class TargetOptions(BaseModel):
    """The target keys a task reads from a config (besides ``task`` and the source)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def columns(self) -> list[str]:
        """The label columns to read, in the order :meth:`Task.encode_target` expects."""
        raise NotImplementedError


class ColumnOptions(TargetOptions):
    """One label column: ``column: <name>``."""

    column: str

    def columns(self) -> list[str]:
        return [self.column]


@dataclass(frozen=True)
class EncodedTarget:
    """A target as a cohort holds it.

    Attributes:
        values: ``[n]`` or ``[n, t]`` array (int class codes, floats, or time and event).
        classes: class labels in code order, or None when the task has no classes.
    """

    values: np.ndarray
    classes: list[str] | None = None


@dataclass(frozen=True)
class Reference:
    """The training part of a split, for metrics and predictions that need it (survival's
    censoring distribution and baseline hazard).

    Attributes:
        target: the training samples' target.
        prediction: the method's predictions for the training samples.
    """

    target: np.ndarray
    prediction: np.ndarray


@dataclass(frozen=True)
class RankingTarget:
    """What supervised feature ranking (a table transform's ``top_k``) scores features by.

    Attributes:
        values: ``[n]``: group codes ``0..g-1`` (``grouped``: scored by ANOVA F), or centred
            numbers (scored by ``|Pearson r|``).
        grouped: whether ``values`` are group codes.
    """

    values: np.ndarray
    grouped: bool


@runtime_checkable
class TargetTransform(Protocol):
    """A fold-fitted transform of the target (e.g. standardisation for regression)."""

    def transform(self, y: np.ndarray) -> np.ndarray:
        """The target as the head's loss reads it."""

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """A head's predictions back on the target's scale."""

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and a JSON-able meta dict, enough for :meth:`Task.load_target`."""

    @property
    def output_scale(self) -> float:
        """Target units per unit of the head's output (attributions are scaled by it)."""


@runtime_checkable
class BaselineModel(Protocol):
    """A classical model fitted on one fold: ``predict`` gives the task's prediction shape."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions for the rows of ``X``."""


class IdentityTarget:
    """The target passed through unchanged, cast to ``dtype``.

    Args:
        dtype: the dtype the head's loss expects (int64 class codes, float32 values).
    """

    def __init__(self, dtype: str) -> None:
        self.dtype = np.dtype(dtype)

    def __repr__(self) -> str:
        return f"IdentityTarget(dtype={self.dtype.name!r})"

    def transform(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y).astype(self.dtype)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        return z

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {}, {"kind": "IdentityTarget", "dtype": self.dtype.name}

    @property
    def output_scale(self) -> float:
        return 1.0


class Task(ABC):
    """Base of every task; subclasses are registered in :data:`TASKS`.

    Class attributes:
        name: the registered name (:func:`register_task` registers the class under it).
        Options: the pydantic model of the task's target keys.
        metric_names: the metrics :meth:`metrics` returns, in leaderboard column order.
        primary: the metric the leaderboard is sorted by.
        shown_metrics: the few metrics of ``metric_names`` the terminal leaderboard shows
            (empty: every one; the leaderboard files always hold every one).
        higher_is_better: direction of each metric in ``metric_names``.
        needs_reference: whether :meth:`metrics` and :meth:`prediction_columns` use the
            training part's predictions (a :class:`Reference`); when False, callers may pass
            None and skip predicting the training part.
        baseline_labels: baseline family (``linear``, ``random_forest``, ...) -> the method
            name in the leaderboard; a family missing here is not offered for the task.
        target_dtype: dtype of the training target the head reads, for the default
            (identity) target transform.
        graph_explainer_mode: PyG's explainer mode for the head's raw output (GNNExplainer).
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type[TargetOptions]] = ColumnOptions
    metric_names: ClassVar[tuple[str, ...]] = ()
    primary: ClassVar[str] = ""
    shown_metrics: ClassVar[tuple[str, ...]] = ()
    higher_is_better: ClassVar[dict[str, bool]] = {}
    needs_reference: ClassVar[bool] = False
    baseline_labels: ClassVar[dict[str, str]] = {}
    target_dtype: ClassVar[str] = "float32"
    graph_explainer_mode: ClassVar[str] = "regression"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    @classmethod
    def parse_options(cls, keys: dict[str, Any], *, where: str) -> TargetOptions:
        """The task's target options from a config's target keys.

        Args:
            keys: the target's keys other than ``task`` and the source (``path`` or
                ``dataset``).
            where: where the keys are, for the message (e.g. ``data.target``).

        Raises:
            BiozooError: a key is missing, unknown or of the wrong type (one sentence).
        """
        try:
            return cls.Options.model_validate(keys)
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise BiozooError(
                f"{where}.{loc}: {first['msg'][:1].lower()}{first['msg'][1:]} (task "
                f"{cls.name!r} reads {', '.join(cls.Options.model_fields)})."
            ) from None

    @classmethod
    def from_options(cls, options: TargetOptions) -> Task:
        """The task for a config's target options (options that shape the task itself, such
        as survival's ``ties``, are read here)."""
        return cls()

    @abstractmethod
    def encode_target(
        self, labels: pd.DataFrame, options: TargetOptions, source: str
    ) -> EncodedTarget:
        """The cohort's target from the label columns ``options.columns()``.

        Args:
            labels: one row per sample (in cohort order), the columns ``options.columns()``.
            options: the task's target options.
            source: the file (or bundled dataset) the labels come from, for messages.

        Raises:
            BiozooError: the labels do not fit the task (one sentence naming ``source``).
        """

    @abstractmethod
    def n_outputs(self, n_classes: int | None) -> int:
        """Outputs per view the model must produce."""

    @abstractmethod
    def head(self, n_classes: int | None) -> nn.Module:
        """The head: ``forward(outputs [B, K, n_outputs], view_mask [B, K], y=None)`` returning
        a :class:`~biozoo.heads.HeadOutput` (prediction and loss)."""

    def fit_target(self, target: np.ndarray) -> TargetTransform:
        """The target transform fitted on a fold's training target (identity by default)."""
        return IdentityTarget(self.target_dtype)

    def load_target(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TargetTransform:
        """A transform saved by ``fit_target(...).state()``."""
        return IdentityTarget(str(meta.get("dtype", self.target_dtype)))

    @abstractmethod
    def ranking_target(self, target: np.ndarray) -> RankingTarget:
        """What a table transform ranks features by (``top_k``), from a training target.

        Raises:
            BiozooError: the target cannot rank features (e.g. a single class).
        """

    @abstractmethod
    def stratify_labels(self, target: np.ndarray) -> np.ndarray | None:
        """Labels to stratify splits on, or None for plain (shuffled) splits."""

    @abstractmethod
    def metrics(
        self,
        y_true: np.ndarray,
        prediction: np.ndarray,
        *,
        n_classes: int | None = None,
        reference: Reference | None = None,
    ) -> dict[str, float]:
        """``{metric: value}`` with the keys of :attr:`metric_names`, in that order."""

    @abstractmethod
    def prediction_columns(
        self,
        y_true: np.ndarray,
        prediction: np.ndarray,
        *,
        classes: list[str] | None = None,
        reference: Reference | None = None,
    ) -> dict[str, np.ndarray]:
        """Columns of ``predictions.csv`` (after ``sample_id``, ``split``, ``method``).

        ``y_true`` is None when scoring new samples without a target.
        """

    def explained(self, classes: list[str]) -> str:
        """What attributions of this task's head explain, in words (for ``explain``)."""
        return "the prediction"

    def baseline_label(self, family: str) -> str:
        """The leaderboard name of baseline ``family`` for this task.

        Raises:
            BiozooError: the family has no estimator for this task.
        """
        if family not in self.baseline_labels:
            offered = ", ".join(sorted(self.baseline_labels)) or "none"
            raise BiozooError(
                f"baseline {family!r} has no estimator for task {self.name!r} (offered: {offered})."
            )
        return self.baseline_labels[family]

    @abstractmethod
    def baseline(
        self,
        family: str,
        X: np.ndarray,
        y: np.ndarray,
        *,
        n_classes: int | None = None,
        seed: int = 0,
        n_jobs: int = 1,
    ) -> BaselineModel:
        """Fit baseline ``family``'s estimator on one fold's training part.

        Args:
            family: a key of :attr:`baseline_labels`.
            X: features ``[n, p]``, float64, no NaN.
            y: the training target (the cohort's encoding).
            n_classes: number of classes of the whole cohort (classification).
            seed: seed of every ``random_state`` and inner CV split.
            n_jobs: parallel jobs for estimators that accept them.
        """


TASKS: Registry[type[Task]] = Registry("task")
"""Task name -> task class (``TASKS.get(name)()`` builds the task)."""


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: registers a task class in :data:`TASKS` under its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    return TASKS.register(cls.name)(cls)
