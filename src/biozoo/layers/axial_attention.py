"""Axial attention over a 2-D grid of tokens: along each row, then along each column.

Ho et al. 2019, "Axial Attention in Multidimensional Transformers",
https://arxiv.org/abs/1912.12180; the row-wise then column-wise attention of AlphaFold's
Evoformer (Jumper et al. 2021, https://doi.org/10.1038/s41586-021-03819-2, suppl. 1.6.1-1.6.2).

The tokens after ``prefix`` leading ones (a ``[CLS]`` token) lie on a ``rows x cols`` grid in
row-major order. Each pass is a standard multi-head softmax attention
(:class:`~biozoo.layers.attention.MultiHeadAttention`, padding masks and all) whose key set is
one line of the grid plus the prefix tokens:

- the row pass: a grid token attends to the prefix tokens and the tokens of its row;
- the column pass: a grid token attends to the prefix tokens and the tokens of its column;
- in both passes a prefix token attends globally, to every token (one query over ``L`` keys,
  so it can pool the whole grid).

The column pass reads the row pass's residual output, ``out = r + col(x + r)`` with
``r = row(x)``: inside the pre-norm block's own residual this is a residual row sublayer
followed by a residual column sublayer, AlphaFold's order. A grid token reaches every other
grid token in one layer (through its row, then their column) at a cost of
``O(rows * cols * (rows + cols))`` instead of ``O((rows * cols)^2)``.

On a grid of one row the row pass *is* full attention over the whole sequence (and on a
grid of one column the column pass is), which the tests check.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from biozoo.errors import BiozooError
from biozoo.layers.attention import ATTENTION_KINDS, MultiHeadAttention

__all__ = ["GRID_ATTENTION_KINDS", "AxialAttention"]


def _line_index(prefix: int, rows: int, cols: int, *, columns: bool) -> Tensor:
    """``[lines, prefix + per line]``: the sequence positions of the prefix and of each row's
    (each column's, with ``columns``) tokens."""
    grid = prefix + torch.arange(rows * cols).view(rows, cols)
    grid = grid.T if columns else grid
    return torch.cat([torch.arange(prefix).expand(grid.shape[0], prefix), grid], dim=1)


class AxialAttention(nn.Module):
    """Row attention, then column attention, over a grid of tokens after ``prefix`` tokens.

    Drop-in for :class:`~biozoo.layers.attention.MultiHeadAttention` in bidirectional
    self-attention on a sequence of ``prefix + rows * cols`` tokens (``context`` and
    ``causal`` are refused).

    Args:
        dim: token width; a multiple of ``heads``.
        heads: number of heads (in each pass).
        grid: ``(rows, cols)`` of the token grid, row-major after the prefix.
        prefix: leading tokens outside the grid (``[CLS]``); they are keys of every line and
            attend globally.
        dropout: dropout on the attention weights (training only).

    Shape:
        - x: ``[B, prefix + rows * cols, dim]``; key_mask: ``[B, L]`` bool (True: a real
          token) or None.
        - output: ``[B, L, dim]`` and, with ``need_weights``, ``[B, heads, L, L]``: the
          value mixing of the layer taken with identity value and output maps,
          ``(A_row + A_col + A_col A_row) / 3``: rows sum to 1, masked keys get 0, and the
          two-hop term ``A_col A_row`` reaches every grid token.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 4,
        *,
        grid: tuple[int, int],
        prefix: int = 0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        rows, cols = grid
        if rows < 1 or cols < 1 or prefix < 0:
            raise BiozooError(f"axial attention needs a grid of at least 1 x 1, not {grid}")
        self.grid, self.prefix = (rows, cols), prefix
        self.row = MultiHeadAttention(dim, heads, dropout=dropout)
        self.col = MultiHeadAttention(dim, heads, dropout=dropout)

    def reset_parameters(self) -> None:
        self.row.reset_parameters()
        self.col.reset_parameters()

    def _pass(
        self,
        attn: MultiHeadAttention,
        x: Tensor,
        key_mask: Tensor | None,
        *,
        transpose: bool,
        need_weights: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """One axial pass: every line of the grid (rows, or columns with ``transpose``)."""
        b, length, d = x.shape
        p, (rows, cols) = self.prefix, self.grid
        if transpose:
            rows, cols = cols, rows
        grid = x[:, p:].view(b, *self.grid, d)
        grid = grid.transpose(1, 2) if transpose else grid  # (B, lines, per line, d)
        lines = torch.cat([x[:, None, :p].expand(b, rows, p, d), grid], dim=2)
        line_mask = None
        if key_mask is not None:
            m = key_mask[:, p:].view(b, *self.grid)
            m = m.transpose(1, 2) if transpose else m
            line_mask = torch.cat([key_mask[:, None, :p].expand(b, rows, p), m], dim=2)
            line_mask = line_mask.reshape(b * rows, p + cols)
        out, w = attn(
            lines.reshape(b * rows, p + cols, d), key_mask=line_mask, need_weights=need_weights
        )
        out = out[:, p:].reshape(b, rows, cols, d)
        out = (out.transpose(1, 2) if transpose else out).reshape(b, rows * cols, d)
        pre, pre_w = x[:, :0], None  # the prefix attends globally, one query over L keys
        if p:
            pre, pre_w = attn(x[:, :p], x, key_mask=key_mask, need_weights=need_weights)
        dense = None
        if need_weights:  # scatter each line's weights into the [L, L] matrix
            dense = x.new_zeros(b, attn.heads, length, length)
            if pre_w is not None:
                dense[:, :, :p] = pre_w
            index = _line_index(p, *self.grid, columns=transpose).to(x.device)
            q = index[:, p:, None].expand(rows, cols, p + cols)
            k = index[:, None, :].expand(rows, cols, p + cols)
            w = w[:, :, p:].reshape(b, rows, attn.heads, cols, p + cols).transpose(1, 2)
            dense[:, :, q, k] = w
        return torch.cat([pre, out], dim=1), dense

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        key_mask: Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        if context is not None or causal:
            raise BiozooError("axial attention supports bidirectional self-attention only")
        rows, cols = self.grid
        if x.shape[1] != self.prefix + rows * cols:
            raise BiozooError(
                f"axial attention on a {rows} x {cols} grid after {self.prefix} tokens needs "
                f"{self.prefix + rows * cols} tokens, not {x.shape[1]}"
            )
        r, a_row = self._pass(self.row, x, key_mask, transpose=False, need_weights=need_weights)
        c, a_col = self._pass(self.col, x + r, key_mask, transpose=True, need_weights=need_weights)
        weights = None
        if a_row is not None and a_col is not None:
            weights = (a_row + a_col + a_col @ a_row) / 3
        return r + c, weights

    def extra_repr(self) -> str:
        return f"grid={self.grid}, prefix={self.prefix}"


GridAttention = Callable[..., nn.Module]
"""``(dim, heads, *, grid, prefix, dropout) -> module``: an attention over a token grid."""


def _flat(kind: str) -> GridAttention:
    """A sequence attention kind over the flattened grid (it does not use the grid's shape)."""

    def build(dim: int, heads: int, *, grid: tuple[int, int], prefix: int, dropout: float):
        return ATTENTION_KINDS[kind](dim, heads, dropout=dropout)

    return build


GRID_ATTENTION_KINDS: dict[str, GridAttention] = {
    **{kind: _flat(kind) for kind in ATTENTION_KINDS},
    "axial": AxialAttention,
}
"""Attention modules for a 2-D token grid by name: the sequence kinds over all tokens, and
``axial`` (rows, then columns)."""
