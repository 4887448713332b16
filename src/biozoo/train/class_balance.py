"""Training options for classes of unequal size: the loss's class weights and label smoothing,
and the decision rule fitted after training (:mod:`biozoo.train.decision`).

Everything here is computed from the rows an ensemble is fitted on (weights, prior) or from
its inner validation rows (the decision rule), never from a test row.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from biozoo.config import FitOptions
from biozoo.errors import BiozooError
from biozoo.heads import ClassHead
from biozoo.train.decision import DECISIONS, DecisionRule

__all__ = ["balanced_weights", "fit_decision", "loss_head"]


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """``n / (C * n_c)`` per class, ``C`` counting the classes that have rows (scikit-learn's
    ``balanced``; the weights average 1 over the rows); 1 for a class with no row.

    Args:
        y: class codes ``[n]`` of the rows the loss runs over.
        n_classes: ``C``.
    """
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)[:n_classes]
    present = max(1, int((counts > 0).sum()))
    return np.where(counts > 0, len(y) / (present * np.maximum(counts, 1)), 1.0)


def _class_head(head: nn.Module, key: str) -> ClassHead:
    if not isinstance(head, ClassHead):
        raise BiozooError(f"training.{key} needs a classification task (binary or multiclass).")
    return head


def loss_head(head: nn.Module, options: FitOptions, y_fit: np.ndarray) -> nn.Module:
    """The head to train with: ``head`` itself unless ``class_weight`` or ``label_smoothing``
    is set, else the same head with that loss.

    Args:
        head: the task's head.
        options: the model's fit options.
        y_fit: class codes of the labelled rows the ensemble is fitted on.

    Raises:
        BiozooError: an option is set for a task without classes.
    """
    if options.class_weight == "none" and options.label_smoothing == 0.0:
        return head
    key = "class_weight" if options.class_weight != "none" else "label_smoothing"
    classes = _class_head(head, key)
    weight = None
    if options.class_weight == "balanced":
        weight = torch.as_tensor(balanced_weights(y_fit, classes.n_classes), dtype=torch.float32)
    return classes.with_loss(class_weight=weight, label_smoothing=options.label_smoothing)


def fit_decision(
    head: nn.Module,
    options: FitOptions,
    *,
    y_val: np.ndarray,
    p_val: np.ndarray,
    y_fit: np.ndarray,
) -> DecisionRule | None:
    """The model's decision rule fitted on its inner validation part; None for ``argmax``.

    Args:
        head: the task's head.
        options: the model's fit options.
        y_val: class codes of the inner validation rows.
        p_val: ``[n, C]`` the members' mean probabilities for them.
        y_fit: class codes of the labelled rows the ensemble was fitted on.

    Raises:
        BiozooError: a rule other than argmax for a task without classes.
    """
    if options.decision == "argmax":
        return None
    _class_head(head, "decision")
    return DECISIONS.get(options.decision)().fit(y_val, p_val, y_fit)
