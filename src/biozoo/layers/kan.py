"""Kolmogorov-Arnold network layers: a learnable B-spline activation on every edge.

Liu et al. 2024, *KAN: Kolmogorov-Arnold Networks*, https://arxiv.org/abs/2404.19756.
Each edge ``i -> o`` carries its own univariate function

.. math::
    \\phi_{o,i}(x) = w^{b}_{o,i}\\, b(x) + \\sum_{c} c_{o,i,c} B_c(x),

a residual base activation ``b`` (SiLU) plus a spline of order ``k`` on a grid of ``G``
intervals extended by ``k`` knots on each side, and node ``o`` sums its incoming edges.

Speed: the ``G + k`` bases of every input are built for the whole batch at once, then one
matmul with the flattened coefficients (a view of the parameter) gives all edges' splines summed
per node (no per-edge loop). Only each input's ``k + 1`` non-zero bases are computed, on a
uniform grid (the initial one) and after :meth:`KANLinear.update_grid` alike:
:mod:`biozoo.layers.bspline` has the paths (compiled kernels on the CPU,
:mod:`biozoo.layers.spline_kernels`), :mod:`biozoo.layers.spline_linear` the matmul and its
gradient to the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biozoo.errors import BiozooError
from biozoo.layers.bspline import (
    DeBoor,
    IntervalTables,
    UniformGrid,
    bspline_basis,
    interval_tables,
    local_bases,
    needs_slopes,
    placed_bases,
    uniform_bases,
    uniform_grid,
)
from biozoo.layers.spline_linear import spline_linear
from biozoo.layers.vmap import under_vmap

__all__ = ["KAN", "KANFeedForward", "KANLinear", "bspline_basis"]

_BASE_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "silu": F.silu,
    "gelu": F.gelu,
    "relu": F.relu,
    "tanh": torch.tanh,
    "identity": lambda x: x,
}


def _extended_knots(core: Tensor, order: int) -> Tensor:
    """``[in, G + 1]`` core knots -> ``[in, G + 2k + 1]``, ``k`` more at each end, end spacing."""
    h_lo = core[:, 1:2] - core[:, :1]
    h_hi = core[:, -1:] - core[:, -2:-1]
    steps = torch.arange(1, order + 1, dtype=core.dtype, device=core.device)
    left = core[:, :1] - h_lo * steps.flip(0)
    right = core[:, -1:] + h_hi * steps
    return torch.cat([left, core, right], dim=1)


class KANLinear(nn.Module):
    """One KAN layer: ``in_features x out_features`` learnable edge functions, summed per node.

    Args:
        in_features: inputs.
        out_features: outputs.
        grid: number of grid intervals ``G`` on ``grid_range``.
        order: spline order ``k`` (3: cubic).
        grid_range: interval covered by the initial uniform grid (extended by ``k`` intervals
            on each side); beyond the extended grid the spline is zero and only the base
            activation remains. :meth:`update_grid` moves the grid to the data.
        base_activation: the residual activation ``b``: ``silu`` (as the paper), ``gelu``,
            ``relu``, ``tanh`` or ``identity``.
        init_scale: standard deviation of the initial spline coefficients times
            ``sqrt(in_features)``; small, so a fresh layer is close to its base branch.

    Shape:
        - input ``[..., in_features]``, output ``[..., out_features]``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        grid: int = 5,
        order: int = 3,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        base_activation: str = "silu",
        init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        if grid < 1 or order < 0:
            raise BiozooError(f"KANLinear needs grid >= 1 and order >= 0, got {grid}, {order}.")
        if not grid_range[0] < grid_range[1]:
            raise BiozooError(f"KANLinear grid_range {grid_range} must be (low, high), low < high.")
        if base_activation not in _BASE_ACTIVATIONS:
            raise BiozooError(
                f"KANLinear base_activation {base_activation!r} is not one of "
                f"{sorted(_BASE_ACTIVATIONS)}."
            )
        self.in_features, self.out_features = in_features, out_features
        self.grid_size, self.order = grid, order
        self.grid_range = (float(grid_range[0]), float(grid_range[1]))
        self.base_activation = base_activation
        self._act = _BASE_ACTIVATIONS[base_activation]
        self.init_scale = init_scale
        self.base_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = nn.Parameter(torch.empty(out_features, in_features, grid + order))
        self.register_buffer("knots", torch.empty(in_features, grid + 2 * order + 1))
        self._uniform = True
        self._plan_cache: tuple[tuple, UniformGrid | IntervalTables | DeBoor] | None = None
        self.register_load_state_dict_post_hook(_recheck_uniform)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform grid on ``grid_range``; Linear-style base weights; small random splines."""
        lo, hi = self.grid_range
        core = torch.linspace(lo, hi, self.grid_size + 1).expand(self.in_features, -1)
        self._set_knots(_extended_knots(core, self.order))
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5))
        with torch.no_grad():
            std = self.init_scale / math.sqrt(self.in_features)
            self.spline_weight.normal_(0.0, std)

    def _set_knots(self, knots: Tensor) -> None:
        self.knots.copy_(knots)
        self._check_uniform()

    def _check_uniform(self) -> None:
        """Pick the uniform fast path when every input's knots are equally spaced."""
        if self.knots.is_meta:
            return
        d = self.knots.diff(dim=-1)
        h = d[:, :1]
        equal = (d - h).abs() <= 1e-5 * h.abs()
        self._uniform = bool(equal.all() and (h > 0).all())

    def _plan(self) -> UniformGrid | IntervalTables | DeBoor:
        """How the current knots' bases are computed (each has ``local(x, need_slopes)``):
        rebuilt when the knots change (in place, by a grid update or a state dict) or move to
        another device or dtype."""
        k = self.knots
        key = (k.data_ptr(), k._version, k.dtype, k.device, k.shape)
        if self._plan_cache is None or self._plan_cache[0] != key:
            if self._uniform:
                plan = uniform_grid(k, self.order)
            else:
                tables = interval_tables(k, self.order)
                plan = tables if tables is not None else DeBoor(k, self.order)
            self._plan_cache = (key, plan)
        return self._plan_cache[1]

    def bases(self, x: Tensor) -> Tensor:
        """The ``G + k`` B-spline basis values of each input.

        Uniform knots (the initial grid) take a closed form: each input's ``k + 1`` non-zero
        bases are fixed polynomials of its position in its interval. Other knots (after
        :meth:`update_grid`) take per-interval polynomial tables, with a lookup grid to find
        each input's interval (de Boor's triangle under ``torch.func.vmap``, or where knots
        are too close for a small lookup grid). All have an analytic backward and match
        :func:`bspline_basis`.

        Shape:
            - x: ``[N, in_features]``; output ``[N, in_features, G + k]``.
        """
        if under_vmap(x) or under_vmap(self.knots):  # no cached plan: the knots are stacked
            if self._uniform:
                return uniform_bases(x, self.knots, self.order)
            return local_bases(x, self.knots, self.order)
        return placed_bases(x, self._plan().local(x.detach(), needs_slopes(x)))

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)  # (N, in)
        base = F.linear(self._act(x2), self.base_weight)
        weight = self.spline_weight.flatten(1)  # (out, in * (G+k)), like the flattened bases
        if under_vmap(x2) or under_vmap(self.knots) or under_vmap(weight):
            y = torch.addmm(base, self.bases(x2).flatten(1), weight.t())
        else:
            local = self._plan().local(x2.detach(), needs_slopes(x2))
            y = spline_linear(x2, local, weight, base)
        return y.reshape(*lead, self.out_features)

    def edge_activations(self, x: Tensor) -> Tensor:
        """Every edge's value ``phi_{o,i}(x_i)`` (base + spline), before the sum over ``i``.

        Shape:
            - x: ``[N, in_features]``; output ``[N, out_features, in_features]``.
        """
        spline = torch.einsum("nic,oic->noi", self.bases(x), self.spline_weight)
        return spline + self.base_weight * self._act(x).unsqueeze(1)

    def regularization_loss(
        self, l1: float = 1.0, entropy: float = 1.0, *, x: Tensor | None = None
    ) -> Tensor:
        """The KAN paper's sparsity penalty ``l1 * |Phi|_1 + entropy * S(Phi)`` (its eq. 2.17-2.19).

        With ``x``: the original, activation-based form: ``|phi_{o,i}|_1`` is the mean of
        ``|phi_{o,i}(x_i)|`` over the batch. Without ``x``: efficient-kan's parameter-only
        stand-in, ``|phi_{o,i}|_1 ~ mean_c |c_{o,i,c}|``; it reads no activations, so it is safe
        under ``torch.func.vmap`` and needs no state from the last forward call.

        Args:
            l1: weight of the summed edge magnitudes.
            entropy: weight of the entropy of the edge magnitudes (normalised to sum 1).
            x: a batch of this layer's inputs ``[N, in_features]``, or None.

        Returns:
            a scalar tensor.
        """
        if x is None:
            magnitude = self.spline_weight.abs().mean(-1)
        else:
            magnitude = self.edge_activations(x.reshape(-1, self.in_features)).abs().mean(0)
        return _l1_entropy(magnitude, l1, entropy)

    @torch.no_grad()
    def update_grid(
        self, x: Tensor, *, grid: int | None = None, grid_eps: float = 0.02, margin: float = 0.01
    ) -> None:
        """Move the grid to the data and refit the splines so the layer keeps its function.

        The new core knots mix per-input sample quantiles with a uniform grid over the sample
        range, ``grid_eps * uniform + (1 - grid_eps) * quantiles`` (the paper's adaptive grid),
        are extended by ``k`` knots at each end, and each edge's spline is refitted by least
        squares to its values on ``x``. ``grid`` larger than the current size is the paper's
        grid extension (coarse-to-fine). A changed ``grid`` replaces ``spline_weight`` by a new
        parameter: rebuild the optimizer afterwards.

        Args:
            x: a batch of this layer's inputs ``[N, in_features]``.
            grid: new number of intervals (default: keep the current one).
            grid_eps: weight of the uniform grid in the mix (1: uniform, 0: quantiles).
            margin: widens the sample range on each side.
        """
        x = x.reshape(-1, self.in_features).to(self.knots.dtype)
        g = self.grid_size if grid is None else int(grid)
        if x.shape[0] < 2 or g < 1:
            raise BiozooError(
                f"KANLinear.update_grid needs at least 2 samples and grid >= 1, "
                f"got {x.shape[0]} samples and grid {g}."
            )
        old = torch.einsum("nic,oic->ino", self.bases(x), self.spline_weight)  # (in, N, out)
        xs = x.sort(dim=0).values  # (N, in)
        idx = torch.linspace(0, x.shape[0] - 1, g + 1, device=x.device).round().long()
        adaptive = xs[idx].t()  # (in, g+1)
        lo, hi = xs[0] - margin, xs[-1] + margin
        uniform = lo[:, None] + (hi - lo)[:, None] * torch.linspace(0, 1, g + 1, device=x.device)
        core = grid_eps * uniform + (1 - grid_eps) * adaptive
        core[:, 0], core[:, -1] = lo, hi
        knots = _extended_knots(core, self.order)
        if g != self.grid_size:
            self.grid_size = g
            n = g + 2 * self.order + 1
            self.knots = knots.new_empty(self.in_features, n)
        self._set_knots(knots)
        a = self.bases(x).transpose(0, 1)  # (in, N, G+k)
        coef = torch.linalg.lstsq(a, old, driver="gelsd").solution  # (in, G+k, out)
        coef = coef.permute(2, 0, 1).to(self.spline_weight.dtype)
        if coef.shape == self.spline_weight.shape:
            self.spline_weight.copy_(coef)
        else:
            self.spline_weight = nn.Parameter(coef)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, grid={self.grid_size}, "
            f"order={self.order}, grid_range={self.grid_range}, "
            f"base_activation={self.base_activation!r}"
        )


def _recheck_uniform(module: KANLinear, _incompatible: object) -> None:
    module._check_uniform()


def _l1_entropy(magnitude: Tensor, l1: float, entropy: float) -> Tensor:
    total = magnitude.sum()
    p = magnitude / (total + 1e-12)
    return l1 * total - entropy * (p * torch.log(p + 1e-12)).sum()


class KAN(nn.Module):
    """A stack of :class:`KANLinear` layers, ``widths[0] -> ... -> widths[-1]``.

    Args:
        widths: layer widths, input first, e.g. ``[2, 5, 1]``.
        grid, order, grid_range, base_activation: as in :class:`KANLinear`, for every layer.

    Shape:
        - input ``[..., widths[0]]``, output ``[..., widths[-1]]``.
    """

    def __init__(
        self,
        widths: Sequence[int],
        *,
        grid: int = 5,
        order: int = 3,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        base_activation: str = "silu",
    ) -> None:
        super().__init__()
        widths = list(widths)
        if len(widths) < 2 or min(widths) < 1:
            raise BiozooError(f"KAN widths {widths} need at least two positive sizes.")
        self.widths = widths
        self.layers = nn.ModuleList(
            KANLinear(
                a, b, grid=grid, order=order, grid_range=grid_range, base_activation=base_activation
            )
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        )

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def regularization_loss(
        self, l1: float = 1.0, entropy: float = 1.0, *, x: Tensor | None = None
    ) -> Tensor:
        """Sum of the layers' :meth:`KANLinear.regularization_loss`; with ``x``, the
        activation-based form, each layer reading its own inputs (one forward pass of ``x``)."""
        total = self.layers[0].spline_weight.new_zeros(())
        for layer in self.layers:
            total = total + layer.regularization_loss(l1, entropy, x=x)
            if x is not None:
                x = layer(x)
        return total

    @torch.no_grad()
    def update_grid(self, x: Tensor, *, grid: int | None = None) -> None:
        """:meth:`KANLinear.update_grid` on every layer, first to last, on the batch ``x``."""
        for layer in self.layers:
            layer.update_grid(x, grid=grid)
            x = layer(x)


class KANFeedForward(nn.Module):
    """A transformer block's feed-forward with KAN layers: ``dim -> hidden -> dim``.

    The grids cover ``[-3, 3]``: the block usually follows a LayerNorm, so its inputs are about
    standard; larger values still pass through the base (SiLU) branch.

    Args:
        dim: model width.
        hidden: width of the middle layer.
        grid: grid intervals per edge.
        order: spline order.

    Shape:
        - input ``[..., dim]``, output ``[..., dim]``.
    """

    def __init__(self, dim: int, hidden: int, *, grid: int = 5, order: int = 3) -> None:
        super().__init__()
        self.net = KAN([dim, hidden, dim], grid=grid, order=order, grid_range=(-3.0, 3.0))

    def reset_parameters(self) -> None:
        self.net.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def regularization_loss(self, l1: float = 1.0, entropy: float = 1.0) -> Tensor:
        """The parameter-only KAN penalty of both layers (vmap-safe)."""
        return self.net.regularization_loss(l1, entropy)
