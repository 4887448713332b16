r"""The plain Laplacian-polynomial graph filter of the lecture's GNN slides.

A graph signal ``x`` (one value, or one feature vector, per node) is filtered by a polynomial of
the graph Laplacian:

.. math::
    y = p_w(L)\,x = \sum_{k=0}^{K} w_k L^k x,

with the combinatorial Laplacian :math:`L = D - A` by default, or the symmetric normalised one
:math:`L = I - D^{-1/2} A D^{-1/2}`. The term :math:`w_0 x` keeps the node's own value,
:math:`w_1 L x` mixes in its immediate neighbours and :math:`w_k L^k x` its ``k``-hop
neighbourhood, so a degree-``K`` filter is ``K``-localised (Defferrard et al., 2016,
https://arxiv.org/abs/1606.09375). ChebNet (``biozoo.encoders.gnn``, PyG's ``ChebConv``)
learns such filters in the Chebyshev basis; this module is the plain power basis, for
reproducing the slide and for teaching.

Because every column of the combinatorial Laplacian sums to zero, ``1^T L^k x = 0`` for
``k >= 1``: the filter preserves the sum of the signal whenever ``w_0 = 1``.

Example (the lecture's worked example):
    >>> A = torch.tensor([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 1], [0, 0, 1, 0.]])
    >>> laplacian_polynomial(torch.tensor([10, 5, 3, 7.]), A, [1, 0.1, 0.01])
    tensor([11.6000,  4.6500,  1.1800,  7.5700])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["LaplacianPolynomialFilter", "dense_laplacian", "laplacian_polynomial"]

Normalization = Literal["combinatorial", "sym"]


def dense_laplacian(
    adjacency: Tensor | None = None,
    *,
    edge_index: Tensor | None = None,
    edge_weight: Tensor | None = None,
    num_nodes: int | None = None,
    normalization: Normalization = "combinatorial",
) -> Tensor:
    """The graph Laplacian as a dense ``[N, N]`` matrix.

    Args:
        adjacency: dense (weighted) adjacency ``[N, N]``; give this or ``edge_index``.
        edge_index: ``[2, E]`` edges ``source -> target`` (list both directions for an
            undirected graph); entry ``A[target, source]`` gets the edge's weight.
        edge_weight: ``[E]`` weights of the edges (default 1).
        num_nodes: number of nodes with ``edge_index`` (default ``edge_index.max() + 1``).
        normalization: ``combinatorial`` (``L = D - A``) or ``sym``
            (``L = I - D^-1/2 A D^-1/2``; isolated nodes get a zero row).

    Returns:
        ``L`` ``[N, N]``, with ``D`` the diagonal of the row sums of ``A`` (in-degree).
    """
    if (adjacency is None) == (edge_index is None):
        raise ValueError("give exactly one of adjacency and edge_index")
    if adjacency is None:
        assert edge_index is not None
        n = int(edge_index.max()) + 1 if num_nodes is None else num_nodes
        w = edge_weight if edge_weight is not None else torch.ones(edge_index.shape[1])
        adjacency = torch.zeros(n, n, dtype=w.dtype, device=edge_index.device)
        adjacency.index_put_((edge_index[1], edge_index[0]), w, accumulate=True)
    if adjacency.dim() != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(f"adjacency must be square [N, N], got {tuple(adjacency.shape)}")
    if not adjacency.is_floating_point():
        adjacency = adjacency.to(torch.get_default_dtype())
    degree = adjacency.sum(dim=1)
    if normalization == "combinatorial":
        return torch.diag(degree) - adjacency
    if normalization == "sym":
        inv_sqrt = degree.pow(-0.5).masked_fill(degree == 0, 0.0)
        norm_adj = inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]
        return torch.diag((degree > 0).to(adjacency.dtype)) - norm_adj
    raise ValueError(f"normalization must be 'combinatorial' or 'sym', got {normalization!r}")


def laplacian_polynomial(
    x: Tensor,
    adjacency: Tensor | None,
    weights: Sequence[float] | Tensor,
    *,
    edge_index: Tensor | None = None,
    edge_weight: Tensor | None = None,
    normalization: Normalization = "combinatorial",
) -> Tensor:
    """Apply ``p_w(L) x = sum_k w_k L^k x`` with fixed coefficients ``w``.

    The powers are applied to ``x`` one after the other (``L (L (L x))``), never formed as
    matrices: ``K`` matrix-vector products, with a sparse ``L`` when the graph comes as an
    ``edge_index`` (``O(K (N + E) F)``) and a dense one for a dense adjacency.

    Args:
        x: the signal, ``[N]`` or ``[N, F]``.
        adjacency: dense adjacency ``[N, N]``, or None with ``edge_index``.
        weights: ``[w_0, ..., w_K]``.
        edge_index: ``[2, E]`` edges, instead of ``adjacency``.
        edge_weight: ``[E]`` edge weights with ``edge_index``.
        normalization: ``combinatorial`` or ``sym`` (see :func:`dense_laplacian`).

    Returns:
        The filtered signal, same shape as ``x``.
    """
    lap = _laplacian_operator(x, adjacency, edge_index, edge_weight, normalization)
    w = torch.as_tensor(weights, dtype=x.dtype, device=x.device)
    out = w[0] * x
    power = x
    for k in range(1, len(w)):
        power = lap @ power  # L^k x
        out = out + w[k] * power
    return out


def _laplacian_operator(
    x: Tensor,
    adjacency: Tensor | None,
    edge_index: Tensor | None,
    edge_weight: Tensor | None,
    normalization: Normalization,
) -> Tensor:
    """``L`` to multiply ``x`` with: dense for a dense adjacency, sparse COO for edges."""
    if adjacency is not None or edge_index is None:
        lap = dense_laplacian(adjacency, edge_index=edge_index, normalization=normalization)
        return lap.to(x.dtype)
    n = x.shape[0]
    src, dst = edge_index
    w = edge_weight.to(x.dtype) if edge_weight is not None else x.new_ones(src.shape[0])
    degree = x.new_zeros(n).index_add_(0, dst, w)  # row sums of A[dst, src]
    if normalization == "combinatorial":
        off, diag = -w, degree
    elif normalization == "sym":
        inv_sqrt = degree.pow(-0.5).masked_fill(degree == 0, 0.0)
        off, diag = -inv_sqrt[dst] * w * inv_sqrt[src], (degree > 0).to(x.dtype)
    else:
        raise ValueError(f"normalization must be 'combinatorial' or 'sym', got {normalization!r}")
    loops = torch.arange(n, device=x.device)
    index = torch.cat([torch.stack([dst, src]), torch.stack([loops, loops])], dim=1)
    values = torch.cat([off, diag])
    return torch.sparse_coo_tensor(index, values, (n, n), check_invariants=False).coalesce()


class LaplacianPolynomialFilter(nn.Module):
    r"""A learnable polynomial filter :math:`y = \sum_k L^k x W_k` in the power basis.

    The per-feature version of :func:`laplacian_polynomial`: each power of ``L`` gets its own
    ``[in_channels, out_channels]`` weight matrix (a scalar ``w_k`` when both are 1). It is the
    spectral convolution of the lecture without the Chebyshev basis; for training, prefer
    ChebNet (better conditioned for large ``K``).

    Args:
        in_channels: features per node.
        out_channels: output features per node.
        K: polynomial degree (``K + 1`` terms, ``L^0 .. L^K``).
        normalization: ``combinatorial`` (``D - A``) or ``sym``.
        bias: add a learnable bias.

    Shape:
        - x: ``[N, in_channels]``; adjacency ``[N, N]`` or edge_index ``[2, E]``;
          output ``[N, out_channels]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        K: int = 2,
        *,
        normalization: Normalization = "combinatorial",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if K < 0:
            raise ValueError(f"K must be >= 0, got {K}")
        self.in_channels, self.out_channels, self.K = in_channels, out_channels, K
        self.normalization = normalization
        self.weight = nn.Parameter(torch.empty(K + 1, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for k in range(self.K + 1):
            nn.init.xavier_uniform_(self.weight[k])
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(
        self,
        x: Tensor,
        adjacency: Tensor | None = None,
        *,
        edge_index: Tensor | None = None,
        edge_weight: Tensor | None = None,
    ) -> Tensor:
        lap = _laplacian_operator(x, adjacency, edge_index, edge_weight, self.normalization)
        out = x @ self.weight[0]
        power = x
        for k in range(1, self.K + 1):
            power = lap @ power  # (N, in_channels): L^k x
            out = out + power @ self.weight[k]
        return out if self.bias is None else out + self.bias

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, K={self.K}, "
            f"normalization={self.normalization!r})"
        )
