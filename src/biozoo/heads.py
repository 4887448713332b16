"""Task heads: turn the fusion's outputs into predictions and a loss.

A fusion hands over ``outputs [B, K, n_outputs]``: one output per *view* (one view for
``concat`` and ``early``; one per modality for ``late``) and ``view_mask [B, K]`` saying which
views a sample has. A head averages the views' predictions (probabilities for classification)
over the views present and averages their losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biozoo.registry import Registry

__all__ = ["HEADS", "BinaryHead", "HeadOutput", "MulticlassHead", "RegressionHead", "view_mean"]

HEADS: Registry[type[nn.Module]] = Registry("head")


@dataclass
class HeadOutput:
    """prediction: ``[B, C]`` class probabilities, or ``[B]`` values; loss: a scalar or None."""

    prediction: Tensor
    loss: Tensor | None


def view_mean(values: Tensor, view_mask: Tensor) -> Tensor:
    """Mean over views (dim 1) of ``values [B, K, ...]`` weighted by ``view_mask [B, K]``."""
    w = view_mask.to(values.dtype)
    w = w / w.sum(dim=1, keepdim=True).clamp_min(1.0)
    while w.dim() < values.dim():
        w = w.unsqueeze(-1)
    return (values * w).sum(dim=1)


@HEADS.register("binary")
class BinaryHead(nn.Module):
    """One logit per view; binary cross-entropy; probabilities ``[B, 2]``."""

    def __init__(self, n_classes: int = 2) -> None:
        super().__init__()
        self.n_outputs = 1

    def forward(self, outputs: Tensor, view_mask: Tensor, y: Tensor | None = None) -> HeadOutput:
        logit = outputs[..., 0]  # (B, K)
        p = view_mean(torch.sigmoid(logit), view_mask)
        prediction = torch.stack([1.0 - p, p], dim=-1)
        loss = None
        if y is not None:
            target = y.to(logit.dtype).unsqueeze(1).expand_as(logit)
            per_view = F.binary_cross_entropy_with_logits(logit, target, reduction="none")
            loss = view_mean(per_view, view_mask).mean()
        return HeadOutput(prediction, loss)


@HEADS.register("multiclass")
class MulticlassHead(nn.Module):
    """``n_classes`` logits per view; cross-entropy; probabilities ``[B, C]``."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_outputs = n_classes

    def forward(self, outputs: Tensor, view_mask: Tensor, y: Tensor | None = None) -> HeadOutput:
        prediction = view_mean(torch.softmax(outputs, dim=-1), view_mask)
        loss = None
        if y is not None:
            b, k, c = outputs.shape
            target = y.long().unsqueeze(1).expand(b, k).reshape(-1)
            per_view = F.cross_entropy(outputs.reshape(-1, c), target, reduction="none")
            loss = view_mean(per_view.view(b, k), view_mask).mean()
        return HeadOutput(prediction, loss)


@HEADS.register("regression")
class RegressionHead(nn.Module):
    """One value per view (on the standardized target scale); mean squared error."""

    def __init__(self, n_classes: int | None = None) -> None:
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
