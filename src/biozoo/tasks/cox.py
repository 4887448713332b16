r"""The Cox proportional-hazards head: partial likelihood with Breslow or Efron ties, and the
Breslow baseline hazard that turns risk scores into survival curves.

A model's single output per view is a log-hazard ratio (risk score) :math:`\eta_i`. The
negative log partial likelihood over the events of a batch is

.. math::

    -\ell = \sum_{i: \delta_i = 1} \Big[ \log\big(R_i - c_i T_i\big) - \eta_i \Big], \quad
    R_i = \sum_{j: t_j \ge t_i} e^{\eta_j}, \quad T_i = \sum_{j \in D(t_i)} e^{\eta_j},

where :math:`D(t)` are the events at time :math:`t`. Breslow's ties use :math:`c_i = 0`;
Efron's give the :math:`d` tied events of one time the ranks :math:`l = 0..d-1` and use
:math:`c_i = l_i / d`. Everything is computed with ``[B, B]`` masks, so the loss has no
data-dependent shapes and runs under ``torch.func.vmap`` over ensemble members; the loss is
divided by the number of events (0 when a batch has none).

References:
    Cox, "Regression models and life-tables" (1972); Breslow, "Covariance analysis of censored
    survival data" (1974); Efron, "The efficiency of Cox's likelihood function for censored
    data" (1977).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from biozoo.heads import HeadOutput, ValueHead, view_mean

__all__ = ["BreslowBaseline", "CoxHead", "cox_loss"]

Ties = Literal["breslow", "efron"]


def cox_loss(
    risk: Tensor, time: Tensor, event: Tensor, weight: Tensor | None = None, ties: Ties = "efron"
) -> Tensor:
    """Negative log partial likelihood per event.

    Args:
        risk: log-hazard ratios ``[B]``.
        time: follow-up times ``[B]``.
        event: 1 for an event, 0 for censoring ``[B]`` (any float or bool dtype).
        weight: 1 for samples that take part, 0 for samples to leave out ``[B]`` (e.g. a view
            the sample lacks); default all 1.
        ties: ``breslow`` or ``efron``.

    Returns:
        A scalar: the negative log partial likelihood divided by the number of events taking
        part (0 when there is none).
    """
    w = torch.ones_like(risk) if weight is None else weight.to(risk.dtype)
    d = event.to(risk.dtype) * w
    # shift by the largest risk for stable exponentials (no gradient needed through the shift)
    shift = (risk * w).max().detach()
    e = torch.exp(risk - shift) * w  # (B,)
    at_risk = (time.unsqueeze(0) >= time.unsqueeze(1)).to(risk.dtype)  # (B_i, B_j): t_j >= t_i
    total = at_risk @ e  # R_i
    if ties == "efron":
        same = (time.unsqueeze(0) == time.unsqueeze(1)).to(risk.dtype) * d.unsqueeze(0)
        tied = same @ e  # T_i: events tied with i
        n_tied = same.sum(dim=1).clamp_min(1.0)  # d_i
        earlier = torch.tril(same, diagonal=-1).sum(dim=1)  # l_i: tied events before i
        total = total - earlier / n_tied * tied
    log_total = torch.log(total.clamp_min(torch.finfo(risk.dtype).tiny)) + shift
    return ((log_total - risk) * d).sum() / d.sum().clamp_min(1.0)


class CoxHead(ValueHead):
    """One log-hazard ratio per view; Cox partial likelihood; risk scores ``[B]``.

    The prediction (and what attributions explain) is the mean over the views present of
    each view's risk score. The loss is the mean over views of each view's partial likelihood
    over the samples that have it.

    Args:
        ties: ``efron`` (default) or ``breslow``.

    Shape:
        - outputs: ``[B, K, 1]``; view_mask: ``[B, K]``; y: ``[B, 2]`` (time, event).
        - prediction: ``[B]``.
    """

    def __init__(self, ties: Ties = "efron") -> None:
        super().__init__()
        if ties not in ("breslow", "efron"):
            raise ValueError(f"ties must be 'breslow' or 'efron', got {ties!r}")
        self.ties = ties
        self.n_outputs = 1

    def extra_repr(self) -> str:
        return f"ties={self.ties!r}"

    def forward(self, outputs: Tensor, view_mask: Tensor, y: Tensor | None = None) -> HeadOutput:
        risk = outputs[..., 0]  # (B, K)
        prediction = view_mean(risk, view_mask)
        loss = None
        if y is not None:
            time, event = y[:, 0], y[:, 1]
            per_view = torch.stack(
                [
                    cox_loss(risk[:, k], time, event, view_mask[:, k], self.ties)
                    for k in range(risk.shape[1])
                ]
            )
            loss = per_view.mean()
        return HeadOutput(prediction, loss)


class BreslowBaseline:
    """Breslow's estimate of the baseline cumulative hazard from training risk scores.

    :math:`H_0(t) = \\sum_{t_i \\le t} d_i / \\sum_{j: t_j \\ge t_i} e^{\\eta_j}` over the
    distinct event times; a sample's survival curve is
    :math:`S(t \\mid \\eta) = \\exp(-H_0(t) e^{\\eta})`.
    """

    def __init__(self) -> None:
        self.times: np.ndarray | None = None
        self.cumhaz: np.ndarray | None = None

    def fit(self, risk: np.ndarray, time: np.ndarray, event: np.ndarray) -> BreslowBaseline:
        """Estimate :math:`H_0` at the distinct event times of the training samples."""
        risk = np.asarray(risk, np.float64)
        time, event = np.asarray(time, np.float64), np.asarray(event).astype(bool)
        e = np.exp(risk - risk.max())
        times = np.unique(time[event])
        deaths = np.array([np.sum(event & (time == t)) for t in times], dtype=np.float64)
        at_risk = np.array([e[time >= t].sum() for t in times])
        # undo the shift: sum exp(risk) = exp(max) * sum e
        self.times, self.cumhaz = times, np.cumsum(deaths / at_risk) * np.exp(-risk.max())
        return self

    def cumulative_hazard(self, t: np.ndarray) -> np.ndarray:
        """:math:`H_0(t)` at times ``t`` (a step function, 0 before the first event)."""
        if self.times is None or self.cumhaz is None:
            raise RuntimeError("BreslowBaseline is not fitted; call fit() first")
        pos = np.searchsorted(self.times, np.asarray(t, np.float64), side="right")
        return np.concatenate([[0.0], self.cumhaz])[pos]

    def survival(self, risk: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Survival probabilities ``[n, T]`` of samples with risk scores ``[n]`` at times
        ``[T]``."""
        h0 = self.cumulative_hazard(t)  # (T,)
        return np.exp(-np.exp(np.asarray(risk, np.float64))[:, None] * h0[None, :])
