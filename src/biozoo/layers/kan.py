"""Kolmogorov-Arnold network layers: a learnable B-spline activation on every edge.

Liu et al. 2024, *KAN: Kolmogorov-Arnold Networks*, https://arxiv.org/abs/2404.19756.
Each edge ``i -> o`` carries its own univariate function

.. math::
    \\phi_{o,i}(x) = w^{b}_{o,i}\\, b(x) + \\sum_{c} c_{o,i,c} B_c(x),

a residual base activation ``b`` (SiLU) plus a spline of order ``k`` on a grid of ``G``
intervals extended by ``k`` knots on each side, and node ``o`` sums its incoming edges.

Speed: the ``G + k`` bases of every input are built for the whole batch at once, then one
matmul with the flattened coefficients gives all edges' splines summed per node (no per-edge
loop). On a uniform grid (the initial one) each input's ``k + 1`` non-zero bases are fixed
polynomials of its position in its interval, scattered into place; on any other grid (after
:meth:`KANLinear.update_grid`) a count of knots finds each input's interval and de Boor's
triangle computes just its ``k + 1`` non-zero bases, scattered the same way. Both have an
analytic backward, and both match :func:`bspline_basis`, the plain reference.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biozoo.errors import BiozooError

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


def bspline_basis(x: Tensor, knots: Tensor, order: int) -> Tensor:
    """B-spline bases of order ``order`` on per-input knots, by the Cox-de Boor recursion.

    The plain, differentiable reference; :class:`KANLinear` uses faster equivalents.

    Args:
        x: inputs.
        knots: non-decreasing knots per input, ``n_knots = G + 2k + 1``.
        order: spline order ``k`` (3: cubic).

    Returns:
        the ``G + k`` basis values of each input; zero outside ``[t_0, t_last)``.

    Shape:
        - x: ``[N, in]``; knots: ``[in, n_knots]``; output ``[N, in, n_knots - 1 - k]``.
    """
    xe = x.unsqueeze(-1)
    b = ((xe >= knots[:, :-1]) & (xe < knots[:, 1:])).to(x.dtype)
    for j in range(1, order + 1):
        left_d = knots[:, j:-1] - knots[:, : -(j + 1)]
        right_d = knots[:, j + 1 :] - knots[:, 1:-j]
        left = torch.where(left_d > 0, (xe - knots[:, : -(j + 1)]) / left_d, 0.0)
        right = torch.where(right_d > 0, (knots[:, j + 1 :] - xe) / right_d, 0.0)
        b = left * b[..., :-1] + right * b[..., 1:]
    return b


# Internally the bases are laid out (N, G + k, in): the input dim innermost keeps every
# elementwise op contiguous, and the flattened (N, (G+k)*in) matrix is a view.


def _cardinal_polynomials(order: int) -> list[list[float]]:
    """Coefficients ``M[r][p]`` of the ``k + 1`` non-zero uniform B-splines on one interval:
    ``B_{mu-k+r}(x) = sum_p M[r][p] s^p`` with ``s`` the position in the interval, in [0, 1)."""
    polys = [[1.0] + [0.0] * order]
    for j in range(1, order + 1):
        nxt = []
        for r in range(j + 1):
            c = [0.0] * (order + 1)
            # B^j_r = (s + j - r) / j * B^{j-1}_{r-1} + (r + 1 - s) / j * B^{j-1}_r
            for src, a, sign in ((r - 1, j - r, 1.0), (r, r + 1, -1.0)):
                if 0 <= src < j:
                    for e, v in enumerate(polys[src][:order]):
                        c[e] += v * a / j
                        c[e + 1] += sign * v / j
            nxt.append(c)
        polys = nxt
    return polys


_POLY_CACHE: dict[tuple, tuple[Tensor, Tensor]] = {}


def _poly_tables(order: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """``[r, p]`` coefficients of the local bases, and ``[r, p]`` of their ``d/ds``."""
    key = (order, dtype, device)
    if key not in _POLY_CACHE:
        m = torch.tensor(_cardinal_polynomials(order), dtype=torch.float64)  # (k+1, k+1)
        d = m[:, 1:] * torch.arange(1, order + 1, dtype=torch.float64)  # (k+1, k)
        _POLY_CACHE[key] = (m.to(device, dtype), d.to(device, dtype))
    return _POLY_CACHE[key]


def _row_index(n_rows: int, n_in: int, width: int, device: torch.device) -> Tensor:
    """Flat position of ``(row, slot 0, input)`` in a ``(n_rows, width, n_in)`` tensor;
    cached for training-sized batches."""
    if n_rows * n_in <= 1 << 18:
        return _cached_row_index(n_rows, n_in, width, device)
    return _cached_row_index.__wrapped__(n_rows, n_in, width, device)


@functools.lru_cache(maxsize=16)
def _cached_row_index(n_rows: int, n_in: int, width: int, device: torch.device) -> Tensor:
    rows = torch.arange(n_rows, device=device).unsqueeze(-1) * (width * n_in)
    return rows + torch.arange(n_in, device=device)


def _scatter_local(local: Tensor, mu: Tensor, n_bases: int) -> tuple[Tensor, Tensor]:
    """Place each input's ``k + 1`` local bases ``(k+1, N*in)`` of interval ``mu`` ``(N, in)``
    into the dense ``(N, G + k, in)`` layout; also returns the flat slots for the backward.

    Basis ``mu-k+r`` goes to slot ``mu-k+r+1`` of ``(N, G+k+2, in)``: slots ``1 .. G+k`` are
    the real bases; the partial bases beyond either end (near the ends of the extended grid,
    or for inputs outside it) pile up in the two discarded slots ``0`` and ``G+k+1``. A flat
    1-D scatter is far faster than one along dim 1, and ``scatter_add_`` has a vmap batching
    rule (``scatter_`` has none).
    """
    k = local.shape[0] - 1
    n_rows, n_in = mu.shape
    shift = torch.arange(1 - k, 2, device=mu.device).view(-1, 1, 1)  # (k+1, 1, 1)
    slot = (mu + shift).clamp(0, n_bases + 1)  # (k+1, N, in)
    flat = (slot * n_in + _row_index(n_rows, n_in, n_bases + 2, mu.device)).flatten()
    dense = local.new_zeros(n_rows * (n_bases + 2) * n_in)
    dense.scatter_add_(0, flat, local.flatten())
    return dense.view(n_rows, n_bases + 2, n_in)[:, 1:-1], flat


def _gather_local(grad: Tensor, flat: Tensor, order: int) -> Tensor:
    """The gradient ``(N, G+k, in)`` at each input's ``k + 1`` local slots: ``(k+1, N*in)``."""
    padded = F.pad(grad, (0, 0, 1, 1))  # (N, G+k+2, in), zero at the discarded slots
    return padded.flatten().index_select(0, flat).view(order + 1, -1)


class _UniformBasis(torch.autograd.Function):
    """Bases on uniform knots: each input's ``k + 1`` non-zero bases are fixed polynomials of
    its position ``s`` in its interval, scattered into the ``G + k`` slots."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, knots: Tensor, order: int) -> tuple[Tensor, Tensor, Tensor]:
        k, n = order, knots.shape[-1]
        n_bases = n - k - 1
        inv_h = 1.0 / (knots[:, 1] - knots[:, 0])  # (in,)
        # clamped: far-outside inputs land in the discarded padding, with finite values
        u = torch.addcmul(-knots[:, 0] * inv_h, x, inv_h).clamp(-1.0, float(n))  # (N, in)
        mu = u.floor().clamp(max=n - 1)  # interval index
        s = u - mu  # position in the interval, in [0, 1]
        pows = [torch.ones_like(s)]
        for _ in range(k):
            pows.append(pows[-1] * s)
        powers = torch.stack(pows)  # (k+1, N, in): s^0 .. s^k
        local = _poly_tables(k, x.dtype, x.device)[0] @ powers.flatten(1)  # (k+1, N*in)
        dense, flat = _scatter_local(local, mu.long(), n_bases)
        return dense, flat, powers

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        _, knots, ctx.order = inputs
        _, flat, powers = output
        ctx.mark_non_differentiable(flat, powers)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(flat, powers, 1.0 / (knots[:, 1] - knots[:, 0]))

    @staticmethod
    def backward(ctx, grad: Tensor | None, *_: None) -> tuple[Tensor | None, None, None]:
        flat, powers, inv_h = ctx.saved_tensors
        k = ctx.order
        if grad is None:
            return None, None, None
        if k == 0:
            return torch.zeros_like(grad[:, 0]), None, None
        g = _gather_local(grad, flat, k)  # (k+1, N*in)
        deriv = _poly_tables(k, grad.dtype, grad.device)[1] @ powers[:k].flatten(1)
        return (g * deriv).sum(0).view_as(powers[0]) * inv_h, None, None


class _LocalBasis(torch.autograd.Function):
    """Bases on arbitrary non-decreasing knots, only the ``k + 1`` non-zero ones per input.

    Each input's interval ``mu`` (``t_mu <= x < t_mu+1``) comes from counting its knots
    ``<= x``; de Boor's triangle on the ``2k`` knots around it gives ``B_{mu-k} .. B_mu``
    (every divisor there spans ``[t_mu, t_mu+1]``, so none is zero, even where knots
    coincide), scattered into place as on the uniform grid. The knots are padded by ``k + 1``
    unit steps at each end, so inputs outside the extended grid get finite values, discarded.
    The backward uses ``B'_i = k (B^{k-1}_i / (t_{i+k} - t_i) - B^{k-1}_{i+1} / (...))``, whose
    terms the last level of the triangle already holds.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, knots: Tensor, order: int) -> tuple[Tensor, Tensor, Tensor]:
        k, n = order, knots.shape[-1]
        n_in, n_bases = x.shape[1], n - k - 1
        pad = torch.arange(1, k + 2, dtype=knots.dtype, device=knots.device)
        padded = torch.cat([knots[:, :1] - pad.flip(0), knots, knots[:, -1:] + pad], dim=1)
        # interval of each input in the original knots, -1 .. n-1 (-1, n-1: outside)
        # (a count of knots <= x: faster than searchsorted for the few knots of a KAN grid)
        mu = (x.unsqueeze(1) >= knots.t()).sum(1) - 1  # (N, in)
        # window a = 0 .. 2k-1 holds t_{mu-k+1+a}, i.e. padded[mu + 2 + a]: one flat gather
        base = ((mu + 2) * n_in + torch.arange(n_in, device=x.device)).flatten()
        offs = torch.arange(0, 2 * k * n_in, n_in, device=x.device).unsqueeze(-1)  # (2k, 1)
        win = padded.t().flatten().index_select(0, (base + offs).flatten()).view(-1, *x.shape)
        d = x - win  # d[a] = x - t_{mu-k+1+a}
        b = x.new_ones((1, *x.shape))
        temp = b
        for j in range(1, k + 1):
            # divisors t_{mu+1+r} - t_{mu+1-j+r}, r = 0 .. j-1
            temp = b / (win[k : k + j] - win[k - j : k])
            up = -d[k : k + j] * temp  # (t_{mu+1+r} - x) B^{j-1}_r / span
            down = d[k - j : k] * temp  # (x - t_{mu+1-j+r}) B^{j-1}_r / span
            b = torch.cat([up[:1], up[1:] + down[:-1], down[-1:]])  # (j+1, N, in)
        deriv = k * torch.cat([-temp[:1], temp[:-1] - temp[1:], temp[-1:]]) if k else temp * 0
        dense, flat = _scatter_local(b.flatten(1), mu, n_bases)
        return dense, flat, deriv

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.order = inputs[2]
        _, flat, deriv = output
        ctx.mark_non_differentiable(flat, deriv)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(flat, deriv)

    @staticmethod
    def backward(ctx, grad: Tensor | None, *_: None) -> tuple[Tensor | None, None, None]:
        flat, deriv = ctx.saved_tensors
        if grad is None:
            return None, None, None
        if ctx.order == 0:
            return torch.zeros_like(grad[:, 0]), None, None
        g = _gather_local(grad, flat, ctx.order)  # (k+1, N*in)
        return (g * deriv.flatten(1)).sum(0).view_as(deriv[0]), None, None


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

    def _bases_t(self, x: Tensor) -> Tensor:
        """:meth:`bases` laid out ``[N, G + k, in_features]`` (the fast internal layout)."""
        if self._uniform:
            return _UniformBasis.apply(x, self.knots, self.order)[0]
        return _LocalBasis.apply(x, self.knots, self.order)[0]

    def bases(self, x: Tensor) -> Tensor:
        """The ``G + k`` B-spline basis values of each input.

        Uniform knots (the initial grid) take a closed form: each input's ``k + 1`` non-zero
        bases are fixed polynomials of its position in its interval. Other knots (after
        :meth:`update_grid`) take de Boor's triangle on each input's own interval, found by
        counting knots. Both have an analytic backward and match :func:`bspline_basis`.

        Shape:
            - x: ``[N, in_features]``; output ``[N, in_features, G + k]``.
        """
        return self._bases_t(x).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)  # (N, in)
        basis = self._bases_t(x2).flatten(1)  # (N, (G+k)*in), a view
        coef = self.spline_weight.permute(2, 1, 0).reshape(-1, self.out_features)
        y = torch.addmm(F.linear(self._act(x2), self.base_weight), basis, coef)  # (N, out)
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
