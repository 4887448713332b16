"""Per-gene quantile bins of expression values, fitted on training samples.

scGPT (Cui et al. 2024, https://doi.org/10.1038/s41592-024-02201-0) gives each gene token a
second embedding for its binned expression. :class:`ValueBins` bins a gene's value against
that gene's own quantiles over the training samples where it is expressed (above
``min_value``), so a value id says how high the gene is *for that gene*; the edges never see
a test sample.
"""

from __future__ import annotations

import numpy as np

from biozoo.inputs import VALUE_FIRST

__all__ = ["ValueBins"]

_ROWS = 2048  # samples binned at a time


class ValueBins:
    """``n_bins`` quantile bins per feature of the values above ``min_value``.

    Args:
        n_bins: bins per feature (>= 2).
        min_value: only values strictly above it are binned (the rest are not expressed).

    Attributes:
        edges: float64 ``[p, n_bins - 1]`` inner edges per feature (``+inf`` for a feature
            with no training value above ``min_value``: all its values fall in the first bin).
    """

    def __init__(self, n_bins: int, min_value: float = 0.0) -> None:
        if n_bins < 2:
            raise ValueError(f"n_bins must be at least 2, got {n_bins}")
        self.n_bins = n_bins
        self.min_value = min_value
        self.edges = np.zeros((0, n_bins - 1))

    @property
    def n_ids(self) -> int:
        """Value ids including the reserved ones (none, hidden): the embedding's size."""
        return VALUE_FIRST + self.n_bins

    def fit(self, values: np.ndarray) -> ValueBins:
        """Edges from the training samples' values ``[n, p]`` (NaN and values ``<=
        min_value`` left out)."""
        v = np.asarray(values, dtype=np.float64)
        v = np.where(v > self.min_value, v, np.nan)  # NaN stays NaN
        q = np.arange(1, self.n_bins) / self.n_bins
        seen = ~np.isnan(v).all(axis=0)
        edges = np.full((v.shape[1], self.n_bins - 1), np.inf)
        if seen.any():
            edges[seen] = np.nanquantile(v[:, seen], q, axis=0).T
        self.edges = edges
        return self

    def reordered(self, columns: list[int]) -> ValueBins:
        """The same bins for a table whose column ``j`` is fitted column ``columns[j]``
        (``-1``: a feature not fitted, whose values all fall in the first bin)."""
        out = ValueBins(self.n_bins, self.min_value)
        index = np.asarray(columns, dtype=np.int64)
        out.edges = np.where(index[:, None] >= 0, self.edges[np.maximum(index, 0)], np.inf)
        return out

    def transform(self, values: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Value ids of the chosen entries: ``VALUE_FIRST + bin`` of ``values[i, columns[i,
        j]]``, and ``VALUE_NONE`` (0) where ``columns`` is ``-1``.

        Args:
            values: ``[n, p]`` float, columns in the fitted order.
            columns: int64 ``[n, k]`` column per token, ``-1`` for none.

        Returns:
            int64 ``[n, k]``.
        """
        out = np.zeros(columns.shape, dtype=np.int64)
        for start in range(0, len(columns), _ROWS):
            cols = columns[start : start + _ROWS]
            rows = np.arange(len(cols))[:, None]
            safe = np.maximum(cols, 0)
            v = np.asarray(values[start : start + _ROWS], dtype=np.float64)[rows, safe]
            bins = (v[..., None] >= self.edges[safe]).sum(axis=-1)  # (r, k) in 0..n_bins-1
            out[start : start + len(cols)] = np.where(cols >= 0, VALUE_FIRST + bins, 0)
        return out
