"""Heads: turn the fusion's outputs into predictions and a loss.

A fusion hands over ``outputs [B, K, n_outputs]``: one output per *view* (one view for
``concat`` and ``early``; one per modality for ``late``) and ``view_mask [B, K]`` saying which
views a sample has. A head averages the views' predictions (probabilities for classification)
over the views present and averages their losses. Each task (:mod:`biozoo.tasks`) builds its
head; a head is parameter-free, so a saved run rebuilds it from its task alone.

Every head also says what attributions explain (:meth:`explained`): a differentiable score
per sample (``[B]``), or one per class (``[B, C]``, when :attr:`per_class` is True: the
explainer then picks each sample's class).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BinaryHead",
    "ClassHead",
    "HeadOutput",
    "MulticlassHead",
    "RegressionHead",
    "SequenceHead",
    "ValueHead",
    "view_mean",
]


@dataclass
class HeadOutput:
    """prediction: ``[B, C]`` class probabilities, or ``[B]`` values; loss: a scalar or None."""

    prediction: Tensor
    loss: Tensor | None


def view_mean(values: Tensor, view_mask: Tensor) -> Tensor:
    """Mean over views (dim 1) of ``values [B, K, ...]`` weighted by ``view_mask [B, K]``."""
    return (values * _expand(_view_weights(view_mask, values.dtype), values)).sum(dim=1)


def _view_weights(view_mask: Tensor, dtype: torch.dtype) -> Tensor:
    w = view_mask.to(dtype)
    return w / w.sum(dim=1, keepdim=True).clamp_min(1.0)


def _expand(w: Tensor, values: Tensor) -> Tensor:
    while w.dim() < values.dim():
        w = w.unsqueeze(-1)
    return w


@runtime_checkable
class ClassHead(Protocol):
    """A head whose prediction is class probabilities ``[B, C]`` and whose loss is a
    cross-entropy that can weigh the classes and smooth the labels (training options)."""

    n_classes: int

    def with_loss(
        self, *, class_weight: Tensor | None = None, label_smoothing: float = 0.0
    ) -> nn.Module:
        """The same head with a class-weighted and/or label-smoothed loss (prediction alike)."""


def _class_weights(class_weight: Tensor | None, n_classes: int) -> Tensor | None:
    if class_weight is None:
        return None
    w = torch.as_tensor(class_weight, dtype=torch.float32).flatten()
    if len(w) != n_classes or bool((w < 0).any()):
        raise ValueError(f"class_weight needs {n_classes} non-negative weights, got {w.tolist()}")
    return w


def _check_smoothing(label_smoothing: float) -> float:
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return float(label_smoothing)


class ValueHead(nn.Module):
    """Base of heads whose prediction is one value per sample: the view mean of output 0,
    which is also what attributions explain."""

    per_class = False

    def explained(self, outputs: Tensor, view_mask: Tensor) -> Tensor:
        """The view mean of the first output ``[B]``."""
        return view_mean(outputs[..., 0], view_mask)


class BinaryHead(nn.Module):
    """One logit per view; binary cross-entropy; probabilities ``[B, 2]``.

    Attributions explain the log-odds of class 1 of the view-averaged probability.

    Args:
        class_weight: ``[2]`` loss weight of each class (None: unweighted).
        label_smoothing: the targets become ``y (1 - e) + e / 2``.
    """

    per_class = False
    n_classes = 2

    def __init__(self, *, class_weight: Tensor | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.n_outputs = 1
        self.class_weight = _class_weights(class_weight, 2)
        self.label_smoothing = _check_smoothing(label_smoothing)

    def with_loss(
        self, *, class_weight: Tensor | None = None, label_smoothing: float = 0.0
    ) -> BinaryHead:
        return BinaryHead(class_weight=class_weight, label_smoothing=label_smoothing)

    def explained(self, outputs: Tensor, view_mask: Tensor) -> Tensor:
        """``log p1 - log p0`` of the view-averaged probabilities ``[B]``."""
        log_w = torch.log(_view_weights(view_mask, outputs.dtype))  # -inf for absent views
        logit = outputs[..., 0]  # (B, K)
        log_p1 = torch.logsumexp(log_w + F.logsigmoid(logit), dim=1)
        log_p0 = torch.logsumexp(log_w + F.logsigmoid(-logit), dim=1)
        return log_p1 - log_p0

    def forward(self, outputs: Tensor, view_mask: Tensor, y: Tensor | None = None) -> HeadOutput:
        logit = outputs[..., 0]  # (B, K)
        p = view_mean(torch.sigmoid(logit), view_mask)
        prediction = torch.stack([1.0 - p, p], dim=-1)
        loss = None
        if y is not None:
            target = y.to(logit.dtype).unsqueeze(1).expand_as(logit)
            if self.label_smoothing:
                target = target * (1.0 - self.label_smoothing) + self.label_smoothing / 2
            per_view = F.binary_cross_entropy_with_logits(logit, target, reduction="none")
            if self.class_weight is not None:
                per_view = per_view * self.class_weight.to(logit)[y.long()].unsqueeze(1)
            loss = view_mean(per_view, view_mask).mean()
        return HeadOutput(prediction, loss)


class MulticlassHead(nn.Module):
    """``n_classes`` logits per view; cross-entropy; probabilities ``[B, C]``.

    Attributions explain each class's log-odds against the rest (of the view-averaged
    probabilities), per class.

    Args:
        n_classes: number of classes.
        class_weight: ``[C]`` loss weight of each class (None: unweighted).
        label_smoothing: the target puts ``1 - e + e / C`` on the true class and ``e / C``
            on every other (``torch.nn.functional.cross_entropy``'s ``label_smoothing``).
    """

    per_class = True

    def __init__(
        self,
        n_classes: int,
        *,
        class_weight: Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_outputs = self.n_classes = n_classes
        self.class_weight = _class_weights(class_weight, n_classes)
        self.label_smoothing = _check_smoothing(label_smoothing)

    def with_loss(
        self, *, class_weight: Tensor | None = None, label_smoothing: float = 0.0
    ) -> MulticlassHead:
        return MulticlassHead(
            self.n_classes, class_weight=class_weight, label_smoothing=label_smoothing
        )

    def explained(self, outputs: Tensor, view_mask: Tensor) -> Tensor:
        """``log p_c - log sum_{k != c} p_k`` for every class ``[B, C]``."""
        log_w = torch.log(_view_weights(view_mask, outputs.dtype))
        log_p = torch.logsumexp(log_w.unsqueeze(-1) + F.log_softmax(outputs, dim=-1), dim=1)
        c = log_p.shape[-1]
        eye = torch.eye(c, dtype=torch.bool, device=log_p.device)
        rest = log_p.unsqueeze(1).expand(-1, c, c).masked_fill(eye, float("-inf"))  # (B, C, C)
        return log_p - torch.logsumexp(rest, dim=-1)

    def forward(self, outputs: Tensor, view_mask: Tensor, y: Tensor | None = None) -> HeadOutput:
        prediction = view_mean(torch.softmax(outputs, dim=-1), view_mask)
        loss = None
        if y is not None:
            b, k, c = outputs.shape
            target = y.long().unsqueeze(1).expand(b, k).reshape(-1)
            per_view = F.cross_entropy(
                outputs.reshape(-1, c),
                target,
                weight=None if self.class_weight is None else self.class_weight.to(outputs),
                label_smoothing=self.label_smoothing,
                reduction="none",
            )
            loss = view_mean(per_view.view(b, k), view_mask).mean()
        return HeadOutput(prediction, loss)


class RegressionHead(ValueHead):
    """One value per view (on the standardized target scale); mean squared error."""

    def __init__(self) -> None:
        super().__init__()
        self.n_outputs = 1

    def forward(self, outputs: Tensor, view_mask: Tensor, y: Tensor | None = None) -> HeadOutput:
        value = outputs[..., 0]  # (B, K)
        prediction = view_mean(value, view_mask)
        loss = None
        if y is not None:
            per_view = (value - y.to(value.dtype).unsqueeze(1)) ** 2
            loss = view_mean(per_view, view_mask).mean()
        return HeadOutput(prediction, loss)


class SequenceHead(nn.Module):
    """Next-token logits per position and view; cross-entropy over the real target positions;
    per-position probabilities ``[B, T, V]``.

    The outputs are ``[B, K, T, V]``: teacher-forced logits in training, or a decoded
    sequence as degenerate logits (0 on the chosen token, a large negative number elsewhere),
    whose probabilities are one-hot; averaging members' one-hot predictions is a per-position
    vote. Target ids are ``[B, T]`` with 0 as padding (left out of the loss).

    Attributions explain the summed log-probability of the most probable token per position.
    """

    per_class = False

    def __init__(self, n_outputs: int) -> None:
        super().__init__()
        self.n_outputs = n_outputs

    def explained(self, outputs: Tensor, view_mask: Tensor) -> Tensor:
        """``sum_t max_v log p(v)`` of the first view ``[B]``."""
        log_p = F.log_softmax(view_mean(outputs, view_mask), dim=-1)
        return log_p.max(dim=-1).values.sum(dim=-1)

    def forward(self, outputs: Tensor, view_mask: Tensor, y: Tensor | None = None) -> HeadOutput:
        prediction = view_mean(torch.softmax(outputs, dim=-1), view_mask)  # (B, T, V)
        loss = None
        if y is not None:
            b, k, t, v = outputs.shape
            target = y.long()[:, :t].unsqueeze(1).expand(b, k, -1)  # (B, K, T)
            per = F.cross_entropy(outputs.reshape(-1, v), target.reshape(-1), reduction="none")
            real = (target != 0).to(outputs.dtype)
            per_view = (per.view(b, k, t) * real).sum(-1) / real.sum(-1).clamp_min(1.0)
            loss = view_mean(per_view, view_mask).mean()
        return HeadOutput(prediction, loss)
