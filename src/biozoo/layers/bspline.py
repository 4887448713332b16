"""B-spline bases for KAN layers: the plain reference, and the fast paths the layers take.

Every input ``x`` of a layer with knots ``t_0 .. t_{n-1}`` (``n = G + 2k + 1``) lies in one
interval ``mu`` (``t_mu <= x < t_{mu+1}``; ``-1`` and ``n - 1`` outside the grid). There its
``k + 1`` non-zero bases ``B_{mu-k} .. B_mu`` are polynomials of its position
``s = (x - t_mu) / (t_{mu+1} - t_mu)`` in the interval. The fast paths compute just those, then
scatter them into the dense ``(N, G + k, in)`` layout one matmul with the coefficients needs:

- uniform knots (a layer's initial grid): ``mu = floor((x - t_0) / h)``, and the same cardinal
  polynomials on every interval (:func:`uniform_bases`);
- other knots (after a grid update): per-input tables, built once per set of knots
  (:func:`interval_tables`): a lookup grid of cells narrower than the closest two knots finds
  ``mu`` with one comparison, and each interval's polynomials come from a table
  (:func:`tabled_bases`); where the knots are too close for a small lookup grid, or under
  ``torch.func.vmap`` (stacked ensembles), de Boor's triangle on each input's interval
  (:func:`local_bases`).

All have an analytic backward and match :func:`bspline_basis`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from biozoo.layers.vmap import under_vmap

__all__ = [
    "IntervalTables",
    "bspline_basis",
    "interval_tables",
    "local_bases",
    "tabled_bases",
    "uniform_bases",
]

# Internally the bases are laid out (N, G + k, in): the input dim innermost keeps every
# elementwise op contiguous, and the flattened (N, (G+k)*in) matrix is a view.

_MAX_TABLE_ENTRIES = 1 << 21  # lookup cells x inputs; more falls back to de Boor's triangle


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


@functools.lru_cache(maxsize=32)
def _cardinal_table(order: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The uniform grid's coefficients ``[p, r]``, shaped ``(p, r, 1, 1)`` to broadcast."""
    m = torch.tensor(_cardinal_polynomials(order), dtype=torch.float64)  # (r, p)
    return m.t().to(device, dtype).view(order + 1, order + 1, 1, 1)


def _row_index(
    n_rows: int, n_in: int, width: int, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """Flat position of ``(row, slot 0, input)`` in a ``(n_rows, width, n_in)`` tensor;
    cached for training-sized batches."""
    if n_rows * n_in <= 1 << 18:
        return _cached_row_index(n_rows, n_in, width, device, dtype)
    return _cached_row_index.__wrapped__(n_rows, n_in, width, device, dtype)


@functools.lru_cache(maxsize=16)
def _cached_row_index(
    n_rows: int, n_in: int, width: int, device: torch.device, dtype: torch.dtype
) -> Tensor:
    rows = torch.arange(n_rows, device=device, dtype=torch.float64).unsqueeze(-1)
    flat = rows * (width * n_in) + torch.arange(n_in, device=device, dtype=torch.float64)
    return flat.to(dtype)


@functools.lru_cache(maxsize=16)
def _slot_shift(order: int, n_in: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    return (torch.arange(1 - order, 2, device=device, dtype=dtype) * n_in).view(-1, 1, 1)


def _slots(mu: Tensor, order: int, n_bases: int) -> Tensor:
    """Flat positions ``(k+1, N, in)`` of each input's ``k + 1`` local bases of interval ``mu``
    (a float tensor ``(N, in)``) in the dense ``(N, G+k+2, in)`` layout.

    Basis ``mu-k+r`` goes to slot ``mu-k+r+1``: slots ``1 .. G+k`` are the real bases; the
    partial bases beyond either end (near the ends of the extended grid, or for inputs outside
    it) pile up in the two discarded slots ``0`` and ``G+k+1``. The arithmetic runs in floats
    (faster than int64 here; float32 while every position is below 2**24, exactly).
    """
    n_rows, n_in = mu.shape
    small = n_rows * (n_bases + 2) * n_in < 1 << 24
    dtype = torch.float32 if mu.dtype == torch.float32 and small else torch.float64
    rows = _row_index(n_rows, n_in, n_bases + 2, mu.device, dtype)
    slot = torch.add(_slot_shift(order, n_in, mu.device, dtype), mu.to(dtype), alpha=n_in)
    return (slot.clamp(0, (n_bases + 1) * n_in) + rows).long()


def _local_polynomials(
    coef: Tensor, s: Tensor, inv_h: Tensor, need_deriv: bool
) -> tuple[Tensor, Tensor | None]:
    """The local bases ``sum_p c[p, r] s^p`` ``(k+1, N, in)`` by Horner's rule, and, when
    ``need_deriv``, their derivatives in ``x``, ``sum_p p c[p, r] s^(p-1) / h``."""
    k = coef.shape[0] - 1
    if k == 0:
        return coef[0].expand(1, *s.shape), None
    local = torch.addcmul(coef[k - 1], coef[k], s)
    for p in range(k - 2, -1, -1):
        local = torch.addcmul(coef[p], local, s)
    if not need_deriv:
        return local, None
    deriv = coef[k] * k
    for p in range(k - 1, 0, -1):
        deriv = torch.addcmul(coef[p] * p, deriv, s)
    return local, deriv * inv_h


class _PlacedBases(torch.autograd.Function):
    """The local bases ``(k+1, N, in)`` placed at their flat slots in the dense
    ``(N, G + k, in)`` layout; the gradient flows to ``x`` through the saved derivatives.

    A flat 1-D scatter is far faster than one along dim 1, and ``scatter_add_`` has a vmap
    batching rule (``scatter_`` has none).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        x: Tensor, local: Tensor, deriv: Tensor | None, flat: Tensor, n_bases: int
    ) -> Tensor:
        n_rows, n_in = x.shape
        dense = local.new_zeros(n_rows * (n_bases + 2) * n_in)
        dense.scatter_add_(0, flat.flatten(), local.flatten())
        return dense.view(n_rows, n_bases + 2, n_in)[:, 1:-1]

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        _, _, deriv, flat, _ = inputs
        ctx.set_materialize_grads(False)
        if ctx.needs_input_grad[0]:  # the slots are kept only for a gradient to x
            ctx.save_for_backward(flat, deriv)

    @staticmethod
    def backward(ctx, grad: Tensor | None) -> tuple[Tensor | None, None, None, None, None]:
        if grad is None or not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        flat, deriv = ctx.saved_tensors
        if deriv is None:  # order 0: piecewise constant
            return grad.new_zeros(grad.shape[0], grad.shape[2]), None, None, None, None
        padded = F.pad(grad, (0, 0, 1, 1))  # (N, G+k+2, in), zero at the discarded slots
        g = padded.flatten().index_select(0, flat.flatten()).view_as(flat)  # (k+1, N, in)
        return (g * deriv).sum(0), None, None, None, None


def _needs_deriv(x: Tensor) -> bool:
    """Under ``torch.func.vmap`` the batched ``x`` does not show whether the outer ``x``
    needs a gradient: always."""
    return under_vmap(x) or (x.requires_grad and torch.is_grad_enabled())


def uniform_bases(x: Tensor, knots: Tensor, order: int) -> Tensor:
    """Bases ``(N, G + k, in)`` of ``x`` ``(N, in)`` on uniform ``knots`` (each input's own
    spacing): the cardinal polynomials of each input's position in its interval."""
    k, n = order, knots.shape[-1]
    inv_h = 1.0 / (knots[:, 1] - knots[:, 0])  # (in,)
    # clamped: far-outside inputs land in the discarded padding, with finite values
    u = torch.addcmul(-knots[:, 0] * inv_h, x.detach(), inv_h).clamp(-1.0, float(n))
    mu = u.floor().clamp(max=n - 1)  # interval index
    coef = _cardinal_table(k, x.dtype, x.device)
    local, deriv = _local_polynomials(coef, u - mu, inv_h, _needs_deriv(x))
    return _PlacedBases.apply(x, local, deriv, _slots(mu, k, n - k - 1), n - k - 1)


def local_bases(x: Tensor, knots: Tensor, order: int) -> Tensor:
    """Bases ``(N, G + k, in)`` on any non-decreasing ``knots``, by de Boor's triangle on each
    input's interval (works under ``torch.func.vmap``).

    Each input's interval ``mu`` (``t_mu <= x < t_mu+1``) comes from counting its knots
    ``<= x``; de Boor's triangle on the ``2k`` knots around it gives ``B_{mu-k} .. B_mu``
    (every divisor there spans ``[t_mu, t_mu+1]``, so none is zero, even where knots
    coincide). The knots are padded by ``k + 1`` unit steps at each end, so inputs outside the
    extended grid get finite values, discarded. The derivatives are
    ``B'_i = k (B^{k-1}_i / (t_{i+k} - t_i) - B^{k-1}_{i+1} / (...))``, whose terms the last
    level of the triangle already holds.
    """
    k, n = order, knots.shape[-1]
    xd = x.detach()
    n_in = x.shape[1]
    pad = torch.arange(1, k + 2, dtype=knots.dtype, device=knots.device)
    padded = torch.cat([knots[:, :1] - pad.flip(0), knots, knots[:, -1:] + pad], dim=1)
    # interval of each input in the original knots, -1 .. n-1 (-1, n-1: outside)
    mu = (xd.unsqueeze(1) >= knots.t()).sum(1) - 1  # (N, in)
    # window a = 0 .. 2k-1 holds t_{mu-k+1+a}, i.e. padded[mu + 2 + a]: one flat gather
    base = ((mu + 2) * n_in + torch.arange(n_in, device=x.device)).flatten()
    offs = torch.arange(0, 2 * k * n_in, n_in, device=x.device).unsqueeze(-1)  # (2k, 1)
    win = padded.t().flatten().index_select(0, (base + offs).flatten()).view(-1, *x.shape)
    d = xd - win  # d[a] = x - t_{mu-k+1+a}
    b = xd.new_ones((1, *x.shape))
    temp = b
    for j in range(1, k + 1):
        # divisors t_{mu+1+r} - t_{mu+1-j+r}, r = 0 .. j-1
        temp = b / (win[k : k + j] - win[k - j : k])
        up = -d[k : k + j] * temp  # (t_{mu+1+r} - x) B^{j-1}_r / span
        down = d[k - j : k] * temp  # (x - t_{mu+1-j+r}) B^{j-1}_r / span
        b = torch.cat([up[:1], up[1:] + down[:-1], down[-1:]])  # (j+1, N, in)
    deriv = k * torch.cat([-temp[:1], temp[:-1] - temp[1:], temp[-1:]]) if k else None
    flat = _slots(mu.to(x.dtype), k, n - k - 1)
    return _PlacedBases.apply(x, b, deriv, flat, n - k - 1)


class IntervalTables(NamedTuple):
    """Per-input lookups for one set of non-uniform knots (see :func:`interval_tables`).

    Attributes:
        cell_scale: lookup cells per unit length of each input, ``(in,)``.
        cell_shift: ``-t_0 * cell_scale``, so ``x * cell_scale + cell_shift`` is the position
            in cells from ``t_0``, ``(in,)``.
        cell_base: where input ``i``'s cells start in ``cells``, plus one, ``(in,)``.
        n_cells: lookup cells across ``[t_0, t_last)``; one more below and one above.
        cells: per ``(input, cell)``, ``(3, in * (n_cells + 2))``: the row of ``intervals``
            an input at the cell's start falls in, the row past the one distinct knot value
            near the cell, and that knot value (``inf``: none near).
        intervals: per ``(input, mu + 1)`` for ``mu = -1 .. n-1``,
            ``((k+1)**2 + 3, in * (n + 1))``: the coefficients ``[p, r]`` of the interval's
            local bases ``B_{mu-k+r} = sum_p c[p, r] s^p``, then ``mu``, ``1 / h`` and
            ``-t_mu / h`` (so ``s = x / h - t_mu / h``); the coefficients and ``1 / h`` are
            zero outside the grid and on empty intervals.
    """

    cell_scale: Tensor
    cell_shift: Tensor
    cell_base: Tensor
    n_cells: int
    cells: Tensor
    intervals: Tensor


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
    lane_rows = (torch.arange(n_in, device=t.device) * (n + 1))[:, None]
    # interval mu = (knots <= x) - 1 sits in row mu + 1 of its input's block
    cells = torch.stack([(lo + lane_rows).to(t.dtype), (hi + lane_rows).to(t.dtype), knot])

    # each interval's k+1 local bases, sampled at k+1 inner points and fitted exactly
    s = (torch.arange(k + 1, dtype=torch.float64, device=t.device) + 0.5) / (k + 1)
    xs = (t[:, :-1, None] + h[..., None] * s).reshape(n_in, -1).t()  # ((n-1)(k+1), in)
    values = bspline_basis(xs, t, k).view(n - 1, k + 1, n_in, -1)  # (m, q, in, G+k)
    basis = torch.arange(n - 1, device=t.device)[:, None] - k + torch.arange(k + 1)  # (m, r)
    valid = (basis >= 0) & (basis < n - k - 1)  # partial bases: zero
    index = basis.clamp(0, n - k - 2)[:, None, None, :].expand(-1, k + 1, n_in, -1)
    picked = values.gather(3, index) * valid[:, None, None, :]  # (m, q, in, r)
    vander = s[:, None] ** torch.arange(k + 1, dtype=torch.float64, device=t.device)  # (q, p)
    coef = torch.linalg.solve(vander, picked.permute(2, 0, 1, 3))  # (in, m, p, r)
    coef = torch.where((h > 0)[..., None, None], coef, 0.0)
    inv_h = torch.where(h > 0, 1.0 / h.clamp(min=torch.finfo(torch.float64).tiny), 0.0)
    offset = -t[:, :-1] * inv_h
    mu_slot = torch.zeros_like(inv_h)  # filled below, padded rows included
    rows = torch.cat([coef.flatten(2), mu_slot[..., None], inv_h[..., None], offset[..., None]], -1)
    rows = F.pad(rows, (0, 0, 1, 1))  # mu = -1 and mu = n-1: outside, all zero
    rows[..., -3] = torch.arange(-1, n, dtype=torch.float64, device=t.device)  # mu of each row
    dtype = knots.dtype
    exact = torch.float32 if dtype == torch.float32 else torch.float64  # for small integers
    scale = 1.0 / width
    lane_cells = torch.arange(n_in, device=t.device, dtype=torch.float64) * (n_cells + 2) + 1
    return IntervalTables(
        cell_scale=scale.to(dtype),
        cell_shift=(-t[:, 0] * scale).to(dtype),
        cell_base=lane_cells.to(exact),
        n_cells=n_cells,
        cells=cells.reshape(3, -1).to(exact),
        intervals=rows.reshape(n_in * (n + 1), -1).t().contiguous().to(dtype),
    )


def tabled_bases(x: Tensor, tables: IntervalTables, order: int) -> Tensor:
    """Bases ``(N, G + k, in)`` on the knots ``tables`` were built from: the lookup cell gives
    each input's interval with one comparison, the interval's row its polynomials."""
    k, (n_rows, n_in) = order, x.shape
    xd = x.detach()
    # index arithmetic in floats, exact (the tables hold fewer than 2**24 rows); the tables
    # are laid out (column, row), so each gathered column is contiguous
    cell = torch.addcmul(tables.cell_shift, xd, tables.cell_scale).floor_()
    cell = cell.clamp_(-1, tables.n_cells).to(tables.cells.dtype).add_(tables.cell_base)
    lo, hi, knot = tables.cells.index_select(1, cell.long().flatten())  # (E,) each
    row = torch.where(xd.flatten() >= knot, hi, lo).long()
    rows = tables.intervals.index_select(1, row).view(-1, n_rows, n_in)  # ((k+1)^2 + 3, N, in)
    s = torch.addcmul(rows[-1], xd, rows[-2])
    coef = rows[: (k + 1) ** 2].view(k + 1, k + 1, n_rows, n_in)  # (p, r, N, in)
    local, deriv = _local_polynomials(coef, s, rows[-2], _needs_deriv(x))
    n_bases = tables.intervals.shape[1] // n_in - k - 2  # (n + 1) rows per input; G + k
    flat = _slots(rows[-3], k, n_bases)
    del rows, coef  # the gathered rows are the step's largest tensor: gone before the scatter
    return _PlacedBases.apply(x, local, deriv, flat, n_bases)
