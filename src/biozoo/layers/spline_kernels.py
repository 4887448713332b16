"""Compiled CPU kernels (numba) for the KAN spline bases: one pass over the inputs each.

The tensor paths of :mod:`biozoo.layers.bspline` spend most of a KAN step on a dozen small
operations per layer (lookups, Horner steps, scatters), each of which reads and writes the
whole ``(k + 1, N, in)`` block. These kernels do the same arithmetic per input in one loop:

- :func:`uniform_local` and :func:`tabled_local`: each input's ``k + 1`` local bases, their
  slopes (already multiplied by ``1 / h``) and the flat start of ``B_{mu-k}``, written into
  arrays the caller allocates (the layouts of :class:`biozoo.layers.bspline.LocalBases`);
- :func:`place`: the local values added into the zeroed flat buffer of the dense bases;
- :func:`gather_slopes`: each input's ``sum_r grad[start + r] * slopes[r]``.

They take NumPy views of CPU tensors (no copies) and are compiled on first use (per dtype;
the tabled kernel also per spline order, so its loops unroll) and cached on disk.
:mod:`biozoo.layers.bspline` takes them for float32 and float64 CPU tensors outside
``torch.func.vmap``; everything else takes the tensor paths, which are also the reference the
kernels are tested against. A NaN input gives NaN bases, in its own slots only (the tensor
paths are undefined there).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

Array = np.ndarray

__all__ = ["gather_slopes", "place", "powers", "tabled_local", "uniform_local"]


@njit(cache=True, nogil=True)
def uniform_local(
    x: Array,
    inv_h: Array,
    shift: Array,
    n_knots: int,
    values_poly: Array,
    slopes_poly: Array,
    values: Array,
    slopes: Array,
    start: Array,
) -> None:
    """Local bases on uniform knots (:class:`biozoo.layers.bspline.UniformGrid`).

    ``x`` ``(N, in)``; ``values``, ``slopes`` ``(k + 1, N, in)`` (``slopes`` with a zero first
    axis: none wanted); ``start`` ``(N, in)`` int64. Partial bases get value and slope 0.
    """
    k1 = values_poly.shape[0]
    n_bases = n_knots - k1
    n_rows, n_in = x.shape
    s = np.empty(n_in, dtype=x.dtype)
    m1 = np.empty(n_in, dtype=np.int64)
    for a in range(n_rows):
        for i in range(n_in):
            u1 = shift[i] + x[a, i] * inv_h[i]  # position in intervals from t_0, plus one
            if u1 != u1:  # NaN: the interval mu = k, whose k + 1 bases are all its own
                m1[i], s[i] = k1, u1
            else:
                u1 = min(max(u1, 0.0), n_knots + 1.0)
                m = min(math.floor(u1), n_knots)
                m1[i], s[i] = m, u1 - m
            start[a, i] = (a * n_in + i) * n_bases + m1[i]
        # the k + 1 Horner chains run across the inputs: independent, so they pipeline
        _horner(values_poly, s, values, a)
        if slopes.shape[0]:
            _horner(slopes_poly, s, slopes, a)
            for r in range(k1):
                slopes[r, a] *= inv_h
        for r in range(k1):  # partial bases: basis mu - k + r outside 0 .. G + k - 1
            for i in range(n_in):
                j = m1[i] - k1 + r
                if j < 0 or j >= n_bases:
                    values[r, a, i] = 0.0
                    if slopes.shape[0]:
                        slopes[r, a, i] = 0.0


@njit(cache=True, nogil=True, inline="always")
def _horner(poly: Array, s: Array, out: Array, a: int) -> None:
    """``out[r, a] = sum_p poly[r, p] s^p`` for every ``r``, inputs innermost."""
    n_p = poly.shape[1]
    for r in range(poly.shape[0]):
        row = out[r, a]
        row[:] = poly[r, n_p - 1]
        for q in range(n_p - 2, -1, -1):
            c = poly[r, q]
            for i in range(s.shape[0]):
                row[i] = row[i] * s[i] + c


@njit(cache=True, nogil=True)
def tabled_local(
    x: Array,
    cell_scale: Array,
    cell_shift: Array,
    cell_low: Array,
    cell_high: Array,
    cell_knots: Array,
    cell_rows: Array,
    intervals: Array,
    values: Array,
    slopes: Array,
    start: Array,
    powers: tuple[float, ...],
) -> None:
    """Local bases on any knots through :class:`biozoo.layers.bspline.IntervalTables`.

    Outputs as in :func:`uniform_local`; the tables' coefficients already give partial bases
    and inputs outside the grid value 0. ``powers`` is :func:`powers` of the spline order: a
    tuple, so its length ``k + 1`` is part of the compiled signature, and the loops over the
    ``k + 1`` bases unroll (each input's Horner chains run side by side).
    """
    k1 = len(powers)
    top = (k1 - 1) * k1  # the tables' rows: c[p, r] at p * k1 + r, then 1 / h, -t_mu / h
    want_slopes = slopes.shape[0] > 0
    n_rows, n_in = x.shape
    lanes = intervals.shape[1] // n_in  # table rows per input, n + 1
    n_bases = lanes - k1 - 1
    rows = np.empty(n_in, dtype=np.int64)
    for a in range(n_rows):
        # two passes per sample: the lookups, then the polynomials (the second pass's
        # iterations are independent of each other, so they overlap)
        for i in range(n_in):
            xv = x[a, i]
            if xv != xv:  # NaN: the interval mu = k, whose k + 1 bases are all its own
                row = i * lanes + k1
            else:
                pos = xv * cell_scale[i] + cell_shift[i]
                cell = int(min(max(pos, cell_low[i]), cell_high[i]))  # >= 0: floors
                row = cell_rows[2 * cell + (1 if xv >= cell_knots[cell] else 0)]
            rows[i] = row
            start[a, i] = (a * n_in + i) * n_bases - i * lanes + row
        for i in range(n_in):
            row = rows[i]
            xv, inv_h = x[a, i], intervals[k1 * k1, row]
            # outside the grid and on empty intervals (inv_h 0) the bases are 0, also for an
            # infinite input (inf * 0 would be NaN); a NaN input stays NaN
            s = xv * inv_h + intervals[k1 * k1 + 1, row] if inv_h != 0 or xv != xv else 0.0
            for r in range(k1):
                v = intervals[top + r, row]
                d = v * powers[k1 - 1]
                for p in range(k1 - 2, -1, -1):
                    c = intervals[p * k1 + r, row]
                    v = v * s + c
                    if want_slopes and p > 0:
                        d = d * s + c * powers[p]
                values[r, a, i] = v
                if want_slopes:
                    slopes[r, a, i] = d * inv_h


@functools.cache
def powers(order: int) -> tuple[np.float32, ...]:
    """``(0, 1, .., k)`` as float32 (exact, and no promotion of float32 arithmetic to
    float64): the exponents of :func:`tabled_local`'s polynomials."""
    return tuple(np.float32(p) for p in range(order + 1))


@njit(cache=True, nogil=True)
def place(values: Array, start: Array, flat: Array) -> None:
    """``flat[start + r] += values[r]`` for every input: ``flat`` zeroed, margins included."""
    k1, n_rows, n_in = values.shape
    for a in range(n_rows):
        for r in range(k1):
            for i in range(n_in):
                flat[start[a, i] + r] += values[r, a, i]


@njit(cache=True, nogil=True)
def gather_slopes(flat: Array, start: Array, slopes: Array, out: Array) -> None:
    """``out = sum_r flat[start + r] * slopes[r]`` per input (``out``, ``start`` ``(N, in)``)."""
    k1, n_rows, n_in = slopes.shape
    for a in range(n_rows):
        for i in range(n_in):
            out[a, i] = flat[start[a, i]] * slopes[0, a, i]
        for r in range(1, k1):
            for i in range(n_in):
                out[a, i] += flat[start[a, i] + r] * slopes[r, a, i]
