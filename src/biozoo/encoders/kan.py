"""The KAN encoder: Kolmogorov-Arnold layers over a table, in place of the MLP."""

from __future__ import annotations

from typing import Annotated, ClassVar

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from torch import Tensor, nn

from biozoo.encoders._registry import ENCODERS
from biozoo.inputs import TableInput
from biozoo.layers.kan import KANLinear

__all__ = ["KANEncoder"]


@ENCODERS.register("kan")
class KANEncoder(nn.Module):
    """KAN layers ``in_dim -> hidden... -> out_dim``, a learnable spline on every edge.

    Liu et al. 2024, *KAN: Kolmogorov-Arnold Networks*, https://arxiv.org/abs/2404.19756.

    Grid range: the fold's transforms hand the encoder standardised features (mean 0, sd 1),
    so every layer's grid covers ``[-grid_bound, grid_bound]`` (default ``[-3, 3]``, about
    99.7% of a standard normal) instead of the paper's ``[-1, 1]``, which would leave a third of
    the values on the splines' flat zero tails. Hidden activations are re-standardised by a
    LayerNorm without learnable affine (so they stay on the same grid) before the next KAN
    layer. Values beyond the grid still pass through each edge's SiLU residual branch (and the
    grid is extended by ``order`` cells on each side, so the spline fades out rather than
    stopping at ±3). A ``tanh`` squash onto ``[-1, 1]`` was the alternative; it would crowd
    every value beyond about ±2 sd into the last grid cells.

    The grid is fixed during training (the training loop has no grid-update hook);
    :meth:`~biozoo.layers.kan.KANLinear.update_grid` can still be called on a trained encoder.

    Args:
        input: the table it reads (its number of features comes from the data).
        hidden: hidden layer widths (each at least 2, for the LayerNorm).
        out_dim: size of the embedding.
        grid: grid intervals per edge.
        order: spline order (3: cubic).
        grid_bound: the grids cover ``[-grid_bound, grid_bound]``.
        dropout: dropout after each hidden layer.
        reg: weight of the KAN sparsity penalty returned by :meth:`aux_loss` (0: none).

    Shape:
        - x: ``[B, in_dim]``; mask: ``[B]`` bool or None; output ``[B, out_dim]``.
    """

    reads: ClassVar[tuple[type, ...]] = (TableInput,)
    stackable: ClassVar[bool] = True

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        hidden: list[Annotated[int, Field(ge=2)]] = Field(default_factory=lambda: [16])
        out_dim: PositiveInt = 16
        grid: PositiveInt = 5
        order: int = Field(3, ge=0, le=5)
        grid_bound: float = Field(3.0, gt=0.0)
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        reg: float = Field(0.0, ge=0.0)

    def __init__(
        self,
        input: TableInput,
        *,
        hidden: list[int] = (16,),  # type: ignore[assignment]
        out_dim: int = 16,
        grid: int = 5,
        order: int = 3,
        grid_bound: float = 3.0,
        dropout: float = 0.1,
        reg: float = 0.0,
    ) -> None:
        super().__init__()
        in_dim = input.n_features
        widths = [in_dim, *hidden, out_dim]
        self.layers = nn.ModuleList(
            KANLinear(a, b, grid=grid, order=order, grid_range=(-grid_bound, grid_bound))
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.dropout = nn.Dropout(dropout)
        self.in_dim, self.out_dim, self.reg = in_dim, out_dim, reg

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        h = x
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = self.dropout(F.layer_norm(h, h.shape[-1:]))
        if mask is not None:
            h = h * mask.unsqueeze(-1).to(h.dtype)
        return h

    def aux_loss(self) -> Tensor | None:
        """``reg`` times the layers' KAN L1 + entropy penalty, or None when ``reg`` is 0.

        Computed from the spline coefficients only (efficient-kan's stand-in for the paper's
        activation-based penalty): it reads no stored activations, so it is safe under
        ``torch.func.vmap`` with stacked parameters and independent of the last forward call.
        """
        if self.reg == 0:
            return None
        total = torch.stack([layer.regularization_loss() for layer in self.layers]).sum()
        return self.reg * total
