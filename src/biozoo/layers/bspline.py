"""B-spline bases for KAN layers: the plain reference, and the fast paths the layers take.

Every input ``x`` of a layer with knots ``t_0 .. t_{n-1}`` (``n = G + 2k + 1``) lies in one
interval ``mu`` (``t_mu <= x < t_{mu+1}``; ``-1`` and ``n - 1`` outside the grid). There its
``k + 1`` non-zero bases ``B_{mu-k} .. B_mu`` are polynomials of its position
``s = (x - t_mu) / (t_{mu+1} - t_mu)`` in the interval. The fast paths compute just those, with
their derivatives (:class:`LocalBases`); :func:`place` scatters them into the dense
``(N, in, G + k)`` layout one matmul with the coefficients needs. Three ways to get them:

- uniform knots (a layer's initial grid, :class:`UniformGrid`): ``mu = floor((x - t_0) / h)``,
  and the same cardinal polynomials on every interval: one small matmul with ``s``'s powers;
- other knots (after a grid update, :class:`IntervalTables`): per-input tables, built once per
  set of knots: a lookup grid of cells narrower than the closest two knots finds ``mu`` with
  one comparison, and each interval's polynomials come from a table;
- where the knots are too close for a small lookup grid, or under ``torch.func.vmap`` (stacked
  ensembles): de Boor's triangle on each input's interval (:class:`DeBoor`).

:func:`placed_bases` makes the placed bases differentiable in ``x`` (the gradient gathers
each input's ``k + 1`` entries and weights them by the derivatives, :func:`gather_slopes`).
All match :func:`bspline_basis`.

On the CPU (float32 and float64, outside ``torch.func.vmap``) the uniform and tabled local
bases, :func:`place` and :func:`gather_slopes` run as compiled kernels
(:mod:`biozoo.layers.spline_kernels`, numba): the same arithmetic in one pass over the inputs
instead of a dozen tensor operations, each with its own dispatch and its own pass over memory.
The tensor paths serve every other device and are the kernels' reference in the tests
(:func:`compiled_kernels` switches).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from types import ModuleType
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from biozoo.layers.vmap import under_vmap

__all__ = [
    "DeBoor",
    "IntervalTables",
    "LocalBases",
    "UniformGrid",
    "bspline_basis",
    "compiled_kernels",
    "gather_slopes",
    "interval_tables",
    "local_bases",
    "needs_slopes",
    "place",
    "placed_bases",
    "tabled_bases",
    "uniform_bases",
    "uniform_grid",
]

# The local bases are laid out (k + 1, N, in), so every elementwise op on them is contiguous;
# the placed bases (N, in, G + k) flatten to the matmul's (N, in * (G+k)) operand, whose
# columns match the flattened [out, in, G + k] coefficients (no copy of either).

# lookup cells x inputs; more falls back to de Boor's triangle. A flat cell position below
# 2**21 rounds by at most 1/8 of a cell in float32 (the stored shift and the sum), inside the
# lookup's quarter-cell slack.
_MAX_TABLE_ENTRIES = 1 << 20

_KERNEL_DTYPES = (torch.float32, torch.float64)
_use_kernels = True


@contextlib.contextmanager
def compiled_kernels(enabled: bool) -> Iterator[None]:
    """Within the block, whether CPU tensors take the compiled kernels
    (:mod:`biozoo.layers.spline_kernels`) or the tensor paths (which every other device
    takes, and which the kernels are tested against)."""
    global _use_kernels
    before, _use_kernels = _use_kernels, enabled
    try:
        yield
    finally:
        _use_kernels = before


def _compiled(*tensors: Tensor) -> bool:
    """Whether the compiled kernels take these tensors: float32 or float64 on the CPU,
    outside ``torch.func.vmap``, none recording a gradient."""
    grad = torch.is_grad_enabled()
    return _use_kernels and all(
        t.device.type == "cpu"
        and t.dtype in _KERNEL_DTYPES
        and not (grad and t.requires_grad)
        and not under_vmap(t)
        for t in tensors
    )


@functools.cache
def _kernels() -> ModuleType:
    """The compiled kernels, imported (and numba with them) on first use."""
    from biozoo.layers import spline_kernels

    return spline_kernels


def _kernel_outputs(x: Tensor, k1: int, need_slopes: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Empty values, slopes (``0`` rows: none wanted) and starts for a kernel to fill."""
    slope_rows = k1 if need_slopes and k1 > 1 else 0
    return (
        x.new_empty((k1, *x.shape)),
        x.new_empty((slope_rows, *x.shape)),
        torch.empty(x.shape, dtype=torch.int64),
    )


def _kernel_local(values: Tensor, slopes: Tensor, start: Tensor, n_bases: int) -> LocalBases:
    """The filled kernel outputs as local bases (slopes already scaled)."""
    return LocalBases(values, slopes if slopes.shape[0] else None, 1.0, start, n_bases)


def bspline_basis(x: Tensor, knots: Tensor, order: int) -> Tensor:
    """B-spline bases of order ``order`` on per-input knots, by the Cox-de Boor recursion.

    The plain, differentiable reference; the layers use faster equivalents.

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


class LocalBases(NamedTuple):
    """Each input's ``k + 1`` non-zero bases, and where they go in the dense layout.

    Input ``x`` in interval ``mu`` has the non-zero bases ``B_{mu-k} .. B_mu``. The dense layout
    (:func:`place`) is the ``(N, in, G + k)`` bases, contiguous, with ``k + 1`` slots of margin
    before and after: ``B_{mu-k+r}`` of input ``(n, i)`` sits at ``start + r``. A partial basis
    (beyond either end of the basis set, near the ends of the extended grid) and every basis of
    an input outside the grid carry value and slope 0, so where they land (a neighbour's slot,
    or the margin) nothing changes.

    Attributes:
        values: ``B_{mu-k+r}(x)``, ``(k + 1, N, in)``; 0 for partial bases.
        slopes: their derivatives in ``x`` divided by ``scale``, ``(k + 1, N, in)``; 0 for
            partial bases; None when no gradient to ``x`` is needed, or for order 0.
        scale: what the slopes are multiplied by: a tensor broadcasting to ``(N, in)``, or 1.
        start: flat position of ``B_{mu-k}`` of each input in the buffer, ``(N, in)`` int64.
        n_bases: ``G + k``.
    """

    values: Tensor
    slopes: Tensor | None
    scale: Tensor | float
    start: Tensor
    n_bases: int

    @property
    def margin(self) -> int:
        """Slots before and after the bases in the buffer: ``k + 1``."""
        return self.values.shape[0]


def _flat_start(slot: Tensor, n_in: int, n_bases: int, lanes: int = 0) -> Tensor:
    """Flat positions ``(n * in + i) * n_bases + slot - i * lanes`` of ``B_{mu-k}`` for the
    ``(N, in)`` int64 slots ``i * lanes + mu + 1`` (the ``k + 1`` of the margin and of
    ``mu - k`` cancel)."""
    return _origin(slot.shape[0], n_in, n_bases, lanes, slot.device) + slot


def _origin(n_rows: int, n_in: int, n_bases: int, lanes: int, device: torch.device) -> Tensor:
    """``(n * in + i) * n_bases - i * lanes``, ``(N, in)`` int64; cached for training-sized
    batches."""
    if n_rows * n_in <= 1 << 18:
        return _cached_origin(n_rows, n_in, n_bases, lanes, device)
    return _cached_origin.__wrapped__(n_rows, n_in, n_bases, lanes, device)


@functools.lru_cache(maxsize=16)
def _cached_origin(
    n_rows: int, n_in: int, n_bases: int, lanes: int, device: torch.device
) -> Tensor:
    rows = torch.arange(n_rows, device=device).unsqueeze(-1)
    return rows * (n_in * n_bases) + torch.arange(n_in, device=device) * (n_bases - lanes)


def place(local: LocalBases) -> Tensor:
    """The dense bases ``(N, in, G + k)``: ``local``'s values scattered into a zeroed buffer
    (a contiguous view inside its margins; no gradient)."""
    k1, n_rows, n_in = local.values.shape
    size = n_rows * n_in * local.n_bases
    dense = local.values.new_zeros(size + 2 * k1)
    if _compiled(local.values):
        _kernels().place(local.values.numpy(), local.start.numpy(), dense.numpy())
    else:
        index, values = local.start.view(-1), local.values.view(k1, -1)
        for r, shifted in enumerate(_shifted(dense, k1)):
            shifted.scatter_add_(0, index, values[r])
    return dense.narrow(0, k1, size).view(n_rows, n_in, local.n_bases)


def gather_slopes(
    dense_grad: Tensor, start: Tensor, slopes: Tensor, scale: Tensor | float
) -> Tensor:
    """The gradient to ``x`` ``(N, in)`` from the gradient of the whole flat buffer (margins
    included, zero there): ``sum_r grad[start + r] * slopes[r] * scale``."""
    if _compiled(dense_grad, slopes):
        acc = slopes.new_empty(start.shape)
        _kernels().gather_slopes(
            dense_grad.contiguous().numpy(), start.numpy(), slopes.numpy(), acc.numpy()
        )
        return acc if isinstance(scale, float) else acc.mul_(scale)
    k1 = slopes.shape[0]
    index, slopes = start.view(-1), slopes.view(k1, -1)
    acc: Tensor | None = None
    for r, shifted in enumerate(_shifted(dense_grad, k1)):
        g = shifted.index_select(0, index)
        # out of place: addcmul_ has no vmap batching rule (stacked ensembles)
        acc = g.mul_(slopes[r]) if acc is None else torch.addcmul(acc, g, slopes[r])
    acc = acc.view_as(start)
    return acc if isinstance(scale, float) else acc.mul_(scale)


def _shifted(flat: Tensor, k1: int) -> list[Tensor]:
    """Views of the flat buffer shifted by ``r = 0 .. k``: position ``start`` in view ``r`` is
    basis ``B_{mu-k+r}``, so one index serves every ``r``."""
    size = flat.shape[0] - (k1 - 1)
    return [flat.narrow(0, r, size) for r in range(k1)]


def _partial_bases_zeroed(m1: Tensor, n_bases: int, *local: Tensor | None) -> None:
    """Zero, in place, the values (and slopes) ``(k + 1, N, in)`` of the partial bases
    ``mu - k + r`` outside ``0 .. n_bases - 1`` (``m1 = mu + 1`` per input, int64, ``0 .. n``):
    one gather from a ``(k + 1, n + 1)`` table of which to keep."""
    k1 = local[0].shape[0]
    keep = _keep_table(k1, n_bases, local[0].dtype, local[0].device)
    keep = keep.index_select(1, m1.flatten()).view(k1, *m1.shape)
    for t in local:
        if t is not None:
            t.mul_(keep)


@functools.lru_cache(maxsize=16)
def _keep_table(k1: int, n_bases: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    j = torch.arange(n_bases + k1 + 1, device=device) - k1  # mu - k for m1 = 0 .. n
    j = j + torch.arange(k1, device=device).unsqueeze(-1)  # (k + 1, n + 1)
    return ((j >= 0) & (j < n_bases)).to(dtype)


class _PlacedBases(torch.autograd.Function):
    """:func:`place` with the gradient to ``x`` through the saved slopes (the bases as a
    differentiable function of ``x``; ``torch.func.vmap`` generates its batching rule)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(
        x: Tensor,
        values: Tensor,
        slopes: Tensor | None,
        scale: Tensor | float,
        start: Tensor,
        n_bases: int,
    ) -> Tensor:
        return place(LocalBases(values, slopes, scale, start, n_bases))

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        _, values, slopes, scale, start, _ = inputs
        ctx.set_materialize_grads(False)
        ctx.k1 = values.shape[0]
        ctx.scale = scale if isinstance(scale, float) else None
        if ctx.needs_input_grad[0]:  # kept only for a gradient to x
            ctx.save_for_backward(slopes, start, None if ctx.scale is not None else scale)

    @staticmethod
    def backward(ctx, grad: Tensor | None) -> tuple[Tensor | None, ...]:
        none = (None,) * 5
        if grad is None or not ctx.needs_input_grad[0]:
            return None, *none
        slopes, start, scale = ctx.saved_tensors
        if slopes is None:  # order 0: piecewise constant
            return grad.new_zeros(grad.shape[:2]), *none
        padded = F.pad(grad.reshape(-1), (ctx.k1, ctx.k1))  # the margins: zero
        scale = ctx.scale if ctx.scale is not None else scale
        return gather_slopes(padded, start, slopes, scale), *none


def placed_bases(x: Tensor, local: LocalBases) -> Tensor:
    """The dense bases ``(N, in, G + k)`` of ``x``, differentiable in ``x``."""
    return _PlacedBases.apply(x, *local)


def needs_slopes(x: Tensor) -> bool:
    """Whether the bases of ``x`` need slopes. Under ``torch.func.vmap`` the batched ``x``
    does not show whether the outer ``x`` needs a gradient: always."""
    return under_vmap(x) or (x.requires_grad and torch.is_grad_enabled())


class UniformGrid(NamedTuple):
    """Uniform knots (each input's own spacing ``h``), ready for :meth:`local`.

    Attributes:
        inv_h: ``1 / h`` per input, ``(in,)``.
        shift: ``1 - t_0 / h``, so ``x / h + shift`` is the position in intervals from ``t_0``,
            plus one, ``(in,)``.
        n_knots: knots per input, ``G + 2k + 1``.
        values_poly: the cardinal polynomials ``[r, p]`` of the ``k + 1`` local bases,
            ``B_{mu-k+r} = sum_p c[r, p] s^p`` (``s`` the position within the interval).
        slopes_poly: their derivatives in ``s``, ``[r, p]``, ``p = 0 .. k-1``.
    """

    inv_h: Tensor
    shift: Tensor
    n_knots: int
    values_poly: Tensor
    slopes_poly: Tensor

    def local(self, x: Tensor, need_slopes: bool) -> LocalBases:
        """The local bases of ``x`` ``(N, in)``: each input's interval by one floor, then its
        ``k + 1`` bases as one small matmul of the cardinal polynomials with ``s``'s powers."""
        k1, n = self.values_poly.shape[0], self.n_knots
        if _compiled(x, self.inv_h):
            values, slopes, start = _kernel_outputs(x, k1, need_slopes)
            _kernels().uniform_local(
                x.contiguous().numpy(),
                self.inv_h.numpy(),
                self.shift.numpy(),
                n,
                self.values_poly.numpy(),
                self.slopes_poly.numpy(),
                values.numpy(),
                slopes.numpy(),
                start.numpy(),
            )
            return _kernel_local(values, slopes, start, n - k1)
        with torch.no_grad():
            # clamped: far-outside inputs get finite values, zeroed with the partial bases
            u1 = torch.addcmul(self.shift, x, self.inv_h).clamp(0.0, n + 1.0)
            m1 = u1.floor().clamp(max=float(n))  # interval + 1
            s = u1.sub_(m1)
            powers = [torch.ones_like(s), s][:k1]
            while len(powers) < k1:
                powers.append(powers[-1] * s)
            p = torch.stack(powers).view(k1, -1)
            values = self.values_poly.mm(p).view(k1, *x.shape)
            slopes = None
            if need_slopes and k1 > 1:
                slopes = self.slopes_poly.mm(p[: k1 - 1]).view(k1, *x.shape)
            m1 = m1.long()
            _partial_bases_zeroed(m1, n - k1, values, slopes)
            start = _flat_start(m1, x.shape[1], n - k1)
        return LocalBases(values, slopes, self.inv_h, start, n - k1)


def uniform_grid(knots: Tensor, order: int) -> UniformGrid:
    """The :class:`UniformGrid` of equally spaced ``knots`` ``(in, G + 2k + 1)``."""
    k1 = order + 1
    inv_h = 1.0 / (knots[:, 1] - knots[:, 0])
    m = torch.tensor(_cardinal_polynomials(order), dtype=torch.float64)  # (r, p)
    slopes = m[:, 1:] * torch.arange(1, k1, dtype=torch.float64)
    like = {"dtype": knots.dtype, "device": knots.device}
    return UniformGrid(
        inv_h=inv_h,
        shift=1.0 - knots[:, 0] * inv_h,
        n_knots=knots.shape[-1],
        values_poly=m.to(**like),
        slopes_poly=slopes.to(**like) if order else m[:, :0].to(**like),
    )


def uniform_bases(x: Tensor, knots: Tensor, order: int) -> Tensor:
    """Bases ``(N, in, G + k)`` of ``x`` ``(N, in)`` on uniform ``knots`` (each input's own
    spacing): the cardinal polynomials of each input's position in its interval."""
    return placed_bases(x, uniform_grid(knots, order).local(x.detach(), needs_slopes(x)))


class DeBoor(NamedTuple):
    """Any non-decreasing knots ``(in, n)``, evaluated by de Boor's triangle on each input's
    interval; works under ``torch.func.vmap``."""

    knots: Tensor
    order: int

    def local(self, x: Tensor, need_slopes: bool) -> LocalBases:
        """Each input's interval ``mu`` (``t_mu <= x < t_mu+1``) comes from counting its knots
        ``<= x``; de Boor's triangle on the ``2k`` knots around it gives ``B_{mu-k} .. B_mu``
        (every divisor there spans ``[t_mu, t_mu+1]``, so none is zero, even where knots
        coincide). The knots are padded by ``k + 1`` unit steps at each end, so inputs outside
        the extended grid get finite values, zeroed with the partial bases. The derivatives are
        ``B'_i = k (B^{k-1}_i / (t_{i+k} - t_i) - B^{k-1}_{i+1} / (...))``, whose terms the
        last level of the triangle already holds."""
        k, knots = self.order, self.knots
        n = knots.shape[-1]
        n_in = x.shape[1]
        with torch.no_grad():
            pad = torch.arange(1, k + 2, dtype=knots.dtype, device=knots.device)
            padded = torch.cat([knots[:, :1] - pad.flip(0), knots, knots[:, -1:] + pad], dim=1)
            # interval of each input in the original knots, -1 .. n-1 (-1, n-1: outside)
            mu = (x.unsqueeze(1) >= knots.t()).sum(1) - 1  # (N, in)
            # window a = 0 .. 2k-1 holds t_{mu-k+1+a}, i.e. padded[mu + 2 + a]: one flat gather
            base = ((mu + 2) * n_in + torch.arange(n_in, device=x.device)).flatten()
            offs = torch.arange(0, 2 * k * n_in, n_in, device=x.device).unsqueeze(-1)
            win = padded.t().flatten().index_select(0, (base + offs).flatten())
            win = win.view(-1, *x.shape)
            d = x - win  # d[a] = x - t_{mu-k+1+a}
            b = x.new_ones((1, *x.shape))
            temp = b
            for j in range(1, k + 1):
                # divisors t_{mu+1+r} - t_{mu+1-j+r}, r = 0 .. j-1
                temp = b / (win[k : k + j] - win[k - j : k])
                up = -d[k : k + j] * temp  # (t_{mu+1+r} - x) B^{j-1}_r / span
                down = d[k - j : k] * temp  # (x - t_{mu+1-j+r}) B^{j-1}_r / span
                b = torch.cat([up[:1], up[1:] + down[:-1], down[-1:]])  # (j+1, N, in)
            slopes = None
            if need_slopes and k:
                slopes = k * torch.cat([-temp[:1], temp[:-1] - temp[1:], temp[-1:]])
            m1 = mu + 1
            _partial_bases_zeroed(m1, n - k - 1, b, slopes)
            start = _flat_start(m1, n_in, n - k - 1)
        return LocalBases(b, slopes, 1.0, start, n - k - 1)


def local_bases(x: Tensor, knots: Tensor, order: int) -> Tensor:
    """Bases ``(N, in, G + k)`` on any non-decreasing ``knots``, by de Boor's triangle on each
    input's interval (:class:`DeBoor`; works under ``torch.func.vmap``)."""
    return placed_bases(x, DeBoor(knots, order).local(x.detach(), needs_slopes(x)))


class IntervalTables(NamedTuple):
    """Per-input lookups for one set of non-uniform knots (see :func:`interval_tables`).

    Attributes:
        cell_scale: lookup cells per unit length of each input, ``(in,)``.
        cell_shift: where input ``i``'s cells start in the flat cell tables, minus
            ``t_0 * cell_scale``, so ``x * cell_scale + cell_shift`` is the flat position of
            ``x``'s cell, ``(in,)``.
        cell_low, cell_high: the first and last flat cell of each input (one below ``t_0``,
            one above ``t_last``), ``(in,)``.
        cell_knots: per flat cell, the one distinct knot value near it (``inf``: none near),
            ``(in * (n_cells + 2),)``.
        cell_rows: per flat cell ``c``, the row of ``intervals`` an input in the cell falls in
            below that knot (at ``2c``) and from it on (at ``2c + 1``), int64.
        intervals: per ``(input, mu + 1)`` for ``mu = -1 .. n-1`` (row ``i * (n + 1) + mu + 1``),
            ``((k+1)**2 + 2, in * (n + 1))``: the coefficients ``[p, r]`` of the interval's
            local bases ``B_{mu-k+r} = sum_p c[p, r] s^p``, then ``1 / h`` and ``-t_mu / h``
            (so ``s = x / h - t_mu / h``); the coefficients and ``1 / h`` are zero outside the
            grid and on empty intervals.
        order: the spline order ``k``.
    """

    cell_scale: Tensor
    cell_shift: Tensor
    cell_low: Tensor
    cell_high: Tensor
    cell_knots: Tensor
    cell_rows: Tensor
    intervals: Tensor
    order: int

    def local(self, x: Tensor, need_slopes: bool) -> LocalBases:
        """The local bases of ``x`` ``(N, in)``: the lookup cell gives each input's interval
        with one comparison, the interval's row its polynomials."""
        k1, (n_rows, n_in) = self.order + 1, x.shape
        rows_per_input = self.intervals.shape[1] // n_in  # n + 1
        if _compiled(x, self.intervals):
            values, slopes, start = _kernel_outputs(x, k1, need_slopes)
            kernels = _kernels()
            kernels.tabled_local(
                x.contiguous().numpy(),
                self.cell_scale.numpy(),
                self.cell_shift.numpy(),
                self.cell_low.numpy(),
                self.cell_high.numpy(),
                self.cell_knots.numpy(),
                self.cell_rows.numpy(),
                self.intervals.numpy(),
                values.numpy(),
                slopes.numpy(),
                start.numpy(),
                kernels.powers(self.order),
            )
            return _kernel_local(values, slopes, start, rows_per_input - k1 - 1)
        with torch.no_grad():
            # the flat cell (position >= 0: truncation floors), its knot decides the row; the
            # tables are laid out (column, row), so each gathered column is contiguous
            cell = torch.addcmul(self.cell_shift, x, self.cell_scale)
            cell = cell.clamp_(self.cell_low, self.cell_high).long().view(-1)
            above = x.reshape(-1) >= self.cell_knots.index_select(0, cell)
            row = self.cell_rows.index_select(0, cell.mul_(2).add_(above))
            rows = self.intervals.index_select(1, row)
            rows = rows.view(-1, n_rows, n_in)  # ((k+1)^2 + 2, N, in)
            # finite: an infinite input is outside the grid, where 1 / h is 0 (inf * 0: NaN)
            big = torch.finfo(x.dtype).max
            s = torch.addcmul(rows[-1], x.clamp(-big, big), rows[-2])
            coef = rows[: k1 * k1].view(k1, k1, n_rows, n_in)  # (p, r, N, in)
            values = coef[k1 - 1]
            for p in range(k1 - 2, -1, -1):  # Horner
                values = torch.addcmul(coef[p], values, s)
            slopes = None
            if need_slopes and k1 > 1:
                # sum_p p c[p] s^(p-1) = c[1] + 2 s (c[2] + 3/2 s (c[3] + ...))
                slopes = coef[k1 - 1]
                for p in range(k1 - 2, 0, -1):
                    slopes = torch.addcmul(coef[p], slopes, s, value=(p + 1) / p)
            scale = rows[-2].clone() if slopes is not None else 1.0  # rows is large: not kept
            n_bases = rows_per_input - k1 - 1
            # partial bases and inputs outside the grid: zero coefficients in the tables
            start = _flat_start(row.view_as(x), n_in, n_bases, lanes=rows_per_input)
        return LocalBases(values, slopes, scale, start, n_bases)


def interval_tables(knots: Tensor, order: int) -> IntervalTables | None:
    """The lookup tables :func:`tabled_bases` needs for ``knots`` ``(in, n)``, or None when the
    closest two distinct knots of some input are too close for a lookup grid of bounded size.

    The lookup cells are at most ``1 / 1.6`` of the closest gap between distinct knots wide,
    so a cell widened by a quarter on each side (slack for rounding when an input's cell is
    computed) holds at most one distinct knot value. Each interval's polynomials are fitted
    exactly (``k + 1`` points, degree ``k``) to :func:`bspline_basis`, in float64.
    """
    t = knots.detach().to(torch.float64)
    n_in, n = t.shape
    k = order
    h = t.diff(dim=1)  # (in, n-1) interval widths
    gaps = torch.where(h > 0, h, torch.inf).min(dim=1).values
    span = t[:, -1] - t[:, 0]
    if not bool(torch.isfinite(gaps).all() and (span > 0).all()):
        return None
    n_cells = max(n - 1, int(torch.ceil((1.6 * span / gaps).max())))
    if n_cells * n_in > _MAX_TABLE_ENTRIES:
        return None
    width = span / n_cells
    c = torch.arange(n_cells + 2, dtype=torch.float64, device=t.device)
    start = t[:, :1] + (c - 1) * width[:, None]  # (in, C)
    end = start + width[:, None]
    start[:, 0], end[:, -1] = -torch.inf, torch.inf
    lo = torch.searchsorted(t, (start - width[:, None] / 4).contiguous())  # knots before
    hi = torch.searchsorted(t, (end + width[:, None] / 4).contiguous())
    near_first = t.gather(1, lo.clamp(max=n - 1))
    near_last = t.gather(1, (hi - 1).clamp(min=0))
    if bool(((hi > lo) & (near_first != near_last)).any()):
        return None  # rounding left two distinct knots in one cell: no lookup
    knot = torch.where(hi > lo, near_first, torch.inf)
    # interval mu = (knots <= x) - 1 sits in row mu + 1 of its input's block
    lane_rows = (torch.arange(n_in, device=t.device) * (n + 1))[:, None]

    # each interval's k+1 local bases, sampled at k+1 inner points and fitted exactly
    s = (torch.arange(k + 1, dtype=torch.float64, device=t.device) + 0.5) / (k + 1)
    xs = (t[:, :-1, None] + h[..., None] * s).reshape(n_in, -1).t()  # ((n-1)(k+1), in)
    values = bspline_basis(xs, t, k).view(n - 1, k + 1, n_in, -1)  # (m, q, in, G+k)
    basis = torch.arange(n - 1, device=t.device)[:, None] - k + torch.arange(k + 1)  # (m, r)
    valid = _keep_table(k + 1, n - k - 1, t.dtype, t.device)[:, 1:-1].t()  # partial: zero
    index = basis.clamp(0, n - k - 2)[:, None, None, :].expand(-1, k + 1, n_in, -1)
    picked = values.gather(3, index) * valid[:, None, None, :]  # (m, q, in, r)
    vander = s[:, None] ** torch.arange(k + 1, dtype=torch.float64, device=t.device)  # (q, p)
    coef = torch.linalg.solve(vander, picked.permute(2, 0, 1, 3))  # (in, m, p, r)
    coef = torch.where((h > 0)[..., None, None], coef, 0.0)
    inv_h = torch.where(h > 0, 1.0 / h.clamp(min=torch.finfo(torch.float64).tiny), 0.0)
    offset = -t[:, :-1] * inv_h
    rows = torch.cat([coef.flatten(2), inv_h[..., None], offset[..., None]], -1)
    rows = F.pad(rows, (0, 0, 1, 1))  # mu = -1 and mu = n-1: outside, all zero
    dtype = knots.dtype
    position = torch.float64 if dtype == torch.float64 else torch.float32  # half: too coarse
    scale = 1.0 / width
    first = torch.arange(n_in, device=t.device, dtype=torch.float64) * (n_cells + 2) + 1
    return IntervalTables(
        cell_scale=scale.to(position),
        cell_shift=(first - t[:, 0] * scale).to(position),
        cell_low=(first - 1).to(position),
        cell_high=(first + n_cells).to(position),
        cell_knots=knot.flatten().to(dtype),
        cell_rows=torch.stack([lo, hi], dim=-1).add_(lane_rows[..., None]).flatten(),
        intervals=rows.reshape(n_in * (n + 1), -1).t().contiguous().to(dtype),
        order=k,
    )


def tabled_bases(x: Tensor, tables: IntervalTables) -> Tensor:
    """Bases ``(N, in, G + k)`` on the knots ``tables`` were built from
    (:meth:`IntervalTables.local`)."""
    return placed_bases(x, tables.local(x.detach(), needs_slopes(x)))
