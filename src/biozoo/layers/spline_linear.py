"""A KAN layer's spline branch as one step: placed bases times coefficients, with its own
backward.

``y = base + B(x) @ W^T``, where ``B(x)`` ``(N, in * (G+k))`` are the placed B-spline bases
(:func:`biozoo.layers.bspline.place`) and ``W`` ``(out, in * (G+k))`` the coefficients, a view
of the layer's ``[out, in, G + k]`` parameter. When ``x`` needs no gradient (a first layer),
the bases are a constant and autograd's own matmul backward serves. Otherwise the gradient to
``x`` skips the bases' own gradient tensor: ``grad @ W`` is written straight into a buffer
laid out like the bases' (with their margins, zero), and each input gathers its ``k + 1``
entries there, weighted by the bases' slopes. With one output, ``grad @ W`` would be an outer
product the size of the bases: each input gathers its ``k + 1`` coefficients from the weight
row itself and scales them by the output's gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from biozoo.layers.bspline import LocalBases, gather_slopes, place

__all__ = ["spline_linear"]


def spline_linear(x: Tensor, local: LocalBases, weight: Tensor, base: Tensor) -> Tensor:
    """``base + place(local).flatten(1) @ weight.T``, differentiable in ``weight``, ``base``
    and, through the local bases' slopes, ``x``.

    Args:
        x: the layer's inputs, ``(N, in)``; it receives the gradient, its values are unread.
        local: ``x``'s local bases, with slopes exactly when ``x`` needs a gradient
            (:func:`biozoo.layers.bspline.needs_slopes`).
        weight: the coefficients, ``(out, in * (G+k))``.
        base: the base branch's output, ``(N, out)``.

    Returns:
        ``(N, out)``.
    """
    basis = place(local).flatten(1)
    if local.slopes is None:  # no gradient to x wanted (or order 0): constant bases
        return torch.addmm(base, basis, weight.t())
    return _SplineMatmul.apply(x, weight, base, basis, local)


class _SplineMatmul(torch.autograd.Function):
    """``base + basis @ weight.T`` with the gradient to ``x`` through the local bases."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, base: Tensor, basis: Tensor, local: LocalBases):
        ctx.save_for_backward(basis, weight)
        ctx.local = local  # constants, no gradient
        return torch.addmm(base, basis, weight.t())

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        basis, weight = ctx.saved_tensors
        local: LocalBases = ctx.local
        grad_x = grad_weight = grad_base = None
        if ctx.needs_input_grad[0] and weight.shape[0] == 1:
            # one output: gather from the (padded) coefficient row itself, not from grad @ W
            n_rows, row = local.start.shape[0], basis.shape[1]
            within = local.start - torch.arange(0, n_rows * row, row, device=grad.device)[:, None]
            padded = F.pad(weight.view(-1), (local.margin, local.margin))
            grad_x = gather_slopes(padded, within, local.slopes, local.scale).mul_(grad)
        elif ctx.needs_input_grad[0]:
            margin, size = local.margin, basis.numel()
            flat = grad.new_empty(size + 2 * margin)
            flat[:margin].zero_()
            flat[margin + size :].zero_()
            torch.mm(grad, weight, out=flat.narrow(0, margin, size).view_as(basis))
            grad_x = gather_slopes(flat, local.start, local.slopes, local.scale)
        if ctx.needs_input_grad[1]:
            grad_weight = grad.t().mm(basis)
        if ctx.needs_input_grad[2]:
            grad_base = grad
        return grad_x, grad_weight, grad_base, None, None

