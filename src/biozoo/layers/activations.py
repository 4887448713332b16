"""Learnable and gated activations: PolyCom's polynomials and the SwiGLU gate.

All of them work under ``torch.func.vmap`` (plain tensor operations), so stacked ensembles can
use them. Their names are given in :data:`biozoo.activations.ACTIVATIONS`.

- :class:`PolyReLU` and :class:`PolyNorm`: PolyCom's polynomial compositions with learnable
  coefficients (Zhuo et al. 2024, https://arxiv.org/abs/2411.03884).
- :class:`SwiGLU`: the gate of the SwiGLU feed-forward unit (Shazeer 2020,
  https://arxiv.org/abs/2002.05202). A GLU variant is not element-wise: it multiplies two
  different projections of the input, ``Swish(xW) * (xV)``. Rather than fake it with a
  width-keeping element-wise function, :class:`SwiGLU` is the faithful gate: its input holds
  both projections side by side (``[xW, xV]``, width ``2h``) and its output is
  ``silu(xW) * xV`` (width ``h``). Its class attribute ``width_factor = 2`` tells a layer
  builder to make the preceding Linear twice as wide; ``Linear(d, 2h) -> SwiGLU ->
  Linear(h, d')`` is then exactly Shazeer's ``FFN_SwiGLU`` with ``[W, V]`` as one matrix.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biozoo.errors import BiozooError

__all__ = ["PolyNorm", "PolyReLU", "SwiGLU", "width_factor"]


def width_factor(activation: type[nn.Module] | nn.Module) -> int:
    """How many times wider than its output an activation's input is (1 but for gates)."""
    return int(getattr(activation, "width_factor", 1))


class _Polynomial(nn.Module):
    """Learnable coefficients ``a_0..a_r`` of a polynomial composition, as in PolyCom.

    ``a_1..a_r`` start at ``1/r`` and ``a_0`` (the constant term, a bias) at 0, the paper's
    initialisation.
    """

    def __init__(self, order: int) -> None:
        super().__init__()
        if order < 1:
            raise BiozooError(f"a polynomial activation needs order >= 1, got {order}.")
        self.order = order
        self.weight = nn.Parameter(torch.empty(order))  # a_1..a_r
        self.bias = nn.Parameter(torch.empty(1))  # a_0
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.weight, 1.0 / self.order)
        nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return f"order={self.order}"


class PolyReLU(_Polynomial):
    r"""PolyReLU: a learnable polynomial of ReLU, ``sum_{i=0..r} a_i ReLU(x)^i``.

    From "Polynomial Composition Activations" (Zhuo et al. 2024,
    https://arxiv.org/abs/2411.03884). Element-wise.

    Args:
        order: the degree ``r`` (3 in the paper).

    Shape:
        - input ``[..., d]``, output ``[..., d]``.
    """

    def __init__(self, order: int = 3) -> None:
        super().__init__(order)

    def forward(self, x: Tensor) -> Tensor:
        r = F.relu(x)
        out = self.bias + self.weight[0] * r
        power = r
        for i in range(1, self.order):
            power = power * r
            out = out + self.weight[i] * power
        return out


class PolyNorm(_Polynomial):
    r"""PolyNorm: ``sum_{i=0..r} a_i norm(x^i)`` with ``norm(u) = u / sqrt(mean(u^2) + eps)``.

    From "Polynomial Composition Activations" (Zhuo et al. 2024,
    https://arxiv.org/abs/2411.03884). The normalisation (RMS over the last, feature
    dimension) keeps the powers on one scale; so PolyNorm is not element-wise across features.

    Args:
        order: the degree ``r`` (3 in the paper).
        eps: added to the mean square.

    Shape:
        - input ``[..., d]``, output ``[..., d]``.
    """

    def __init__(self, order: int = 3, eps: float = 1e-6) -> None:
        super().__init__(order)
        self.eps = eps

    def _norm(self, u: Tensor) -> Tensor:
        return u * torch.rsqrt(u.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x: Tensor) -> Tensor:
        out = self.bias + self.weight[0] * self._norm(x)
        power = x
        for i in range(1, self.order):
            power = power * x
            out = out + self.weight[i] * self._norm(power)
        return out


class SwiGLU(nn.Module):
    """The SwiGLU gate: ``silu(a) * b`` for the two halves ``[a, b]`` of the last dimension.

    See the module docstring: the Linear before it must produce ``2h`` features (its
    ``width_factor`` is 2), and the output has ``h``.

    Shape:
        - input ``[..., 2h]``, output ``[..., h]``.
    """

    width_factor: ClassVar[int] = 2

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % 2:
            raise BiozooError(
                f"the swiglu gate needs an even number of input features, got {x.shape[-1]}."
            )
        a, b = x.chunk(2, dim=-1)
        return F.silu(a) * b
