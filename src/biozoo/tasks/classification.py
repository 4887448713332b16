"""Binary and multiclass classification: class-coded targets, probabilities ``[n, C]``.

A classification target is a label column; its distinct values become class codes
``0..C-1`` in sorted order (numbers and booleans by value, anything else by its text), so a
0/1 or False/True target has the positive class second. Predictions are probabilities of
every class (binary too: ``[n, 2]``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from torch import nn

from biozoo.errors import BiozooError
from biozoo.evaluate import classification_metrics
from biozoo.heads import BinaryHead, MulticlassHead
from biozoo.tasks.base import (
    BaselineModel,
    EncodedTarget,
    RankingTarget,
    Reference,
    TargetOptions,
    Task,
    register_task,
)
from biozoo.tasks.estimators import fit_classifier

__all__ = ["BinaryTask", "ClassificationTask", "MulticlassTask"]

_METRICS = ("roc_auc", "pr_auc", "balanced_accuracy", "macro_f1", "accuracy", "log_loss")
_DIRECTIONS = {
    "roc_auc": True,
    "pr_auc": True,
    "balanced_accuracy": True,
    "macro_f1": True,
    "accuracy": True,
    "log_loss": False,
}
_BASELINES = {
    "linear": "logistic/ridge (CV)",
    "random_forest": "random forest",
    "gradient_boosting": "gradient boosting",
}


class ClassificationTask(Task):
    """What binary and multiclass share; :attr:`binary` tells them apart."""

    binary: ClassVar[bool] = False
    metric_names = _METRICS
    primary = "roc_auc"
    higher_is_better = _DIRECTIONS
    baseline_labels = _BASELINES
    target_dtype = "int64"

    def encode_target(
        self, labels: pd.DataFrame, options: TargetOptions, source: str
    ) -> EncodedTarget:
        column = options.columns()[0]
        values = labels[column]
        levels = _sorted_levels(values)
        names = [_label_str(v) for v in levels]
        if len(levels) < 2:
            raise BiozooError(
                f"target {column!r} of {source} has a single class ({', '.join(names)}); "
                f"{self.name} classification needs at least 2."
            )
        self._check_levels(names, column, source)
        codes = pd.Index(levels, dtype=object).get_indexer(values.to_numpy(dtype=object))
        return EncodedTarget(codes.astype(np.int64), names)

    def _check_levels(self, names: list[str], column: str, source: str) -> None:
        """Raise when the number of classes does not suit the task."""

    def stratify_labels(self, target: np.ndarray) -> np.ndarray | None:
        return np.asarray(target)

    def ranking_target(self, target: np.ndarray) -> RankingTarget:
        _, codes = np.unique(np.asarray(target), return_inverse=True)
        g = int(codes.max()) + 1 if len(codes) else 0
        if g < 2:
            raise BiozooError(
                f"ranking features for top_k needs at least two classes in the training rows, "
                f"found {g}."
            )
        return RankingTarget(codes, grouped=True)

    def metrics(
        self,
        y_true: np.ndarray,
        prediction: np.ndarray,
        *,
        n_classes: int | None = None,
        reference: Reference | None = None,
    ) -> dict[str, float]:
        return classification_metrics(
            y_true, prediction, n_classes=n_classes, binary=self.binary, name=self.name
        )

    def prediction_columns(
        self,
        y_true: np.ndarray | None,
        prediction: np.ndarray,
        *,
        classes: list[str] | None = None,
        reference: Reference | None = None,
    ) -> dict[str, np.ndarray]:
        labels = np.asarray(classes, dtype=object)
        columns: dict[str, np.ndarray] = {}
        if y_true is not None:
            columns["y_true"] = labels[np.asarray(y_true, dtype=np.int64)]
        columns["y_pred"] = labels[prediction.argmax(axis=1)]
        for c, label in enumerate(labels):
            columns[f"p_{label}"] = prediction[:, c]
        return columns

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
        label = self.baseline_label(family)
        n_classes = self._n_classes(y, n_classes)
        return fit_classifier(
            family, X, y, n_classes=n_classes, seed=seed, n_jobs=n_jobs, label=label
        )

    def _n_classes(self, y: np.ndarray, n_classes: int | None) -> int:
        y = np.asarray(y)
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"{self.name} targets must be integer class codes")
        return int(y.max()) + 1 if n_classes is None else n_classes


@register_task
class BinaryTask(ClassificationTask):
    """Two classes; one logit per view; binary cross-entropy."""

    name = "binary"
    binary = True
    shown_metrics = ("roc_auc", "pr_auc", "balanced_accuracy")
    graph_explainer_mode = "binary_classification"

    def _check_levels(self, names: list[str], column: str, source: str) -> None:
        if len(names) != 2:
            shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
            raise BiozooError(
                f"binary target {column!r} of {source} has {len(names)} classes ({shown}); "
                f"use task 'multiclass' or recode it to 2 classes."
            )

    def _n_classes(self, y: np.ndarray, n_classes: int | None) -> int:
        n_classes = super()._n_classes(y, 2 if n_classes is None else n_classes)
        if n_classes != 2:
            raise ValueError(f"binary task needs n_classes=2, got {n_classes}")
        return n_classes

    def n_outputs(self, n_classes: int | None) -> int:
        return 1

    def head(self, n_classes: int | None) -> nn.Module:
        return BinaryHead()

    def explained(self, classes: list[str]) -> str:
        return f"log-odds of class {classes[1]!r} (the positive class)"


@register_task
class MulticlassTask(ClassificationTask):
    """``C >= 2`` classes; ``C`` logits per view; cross-entropy."""

    name = "multiclass"
    shown_metrics = ("roc_auc", "macro_f1", "balanced_accuracy")
    graph_explainer_mode = "multiclass_classification"

    def n_outputs(self, n_classes: int | None) -> int:
        if n_classes is None:
            raise ValueError("a multiclass task needs its number of classes")
        return n_classes

    def head(self, n_classes: int | None) -> nn.Module:
        return MulticlassHead(self.n_outputs(n_classes))

    def explained(self, classes: list[str]) -> str:
        return "log-odds of each sample's true class"


def _sorted_levels(labels: pd.Series) -> list[object]:
    """Distinct labels: by value when all are numbers or bools, else by their text."""
    values = list(pd.unique(labels.to_numpy(dtype=object)))
    if all(isinstance(v, bool | np.bool_) for v in values):
        return sorted(values)
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values):
        return sorted(values)
    return sorted(values, key=str)


def _label_str(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.bool_):
        return str(bool(value))
    return str(value)
