"""The mixture-of-experts encoder: an MLP whose hidden blocks are MoE feed-forward layers."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt, model_validator
from torch import Tensor, nn

from biozoo.encoders._registry import ENCODERS
from biozoo.inputs import TableInput
from biozoo.layers.moe import MoEFeedForward

__all__ = ["MoEEncoder"]


@ENCODERS.register("moe")
class MoEEncoder(nn.Module):
    """Input projection, ``depth`` residual mixture-of-experts blocks, output projection.

    Each block is ``x = x + dropout(moe(layer_norm(x)))`` (pre-norm residual, as in Switch
    Transformer's feed-forward blocks, https://arxiv.org/abs/2101.03961); a final LayerNorm
    precedes the projection to the embedding. Each sample of the table is one token routed to
    its ``k`` best experts.

    :meth:`aux_loss` is the summed load-balancing loss of the blocks in the LAST forward call
    times ``aux_weight``: it is Python state, so the encoder is ``stackable = False`` and is
    trained by the per-member loop. Absent samples (``mask`` False) are left out of the
    balance statistics.

    Args:
        input: the table it reads (its number of features comes from the data).
        width: width of the residual stream.
        depth: number of MoE blocks.
        expert_hidden: hidden width of each expert.
        n_experts: experts per block.
        k: experts each sample is routed to.
        out_dim: size of the embedding.
        dropout: dropout on each block's output.
        aux_weight: weight of the load-balancing loss (Switch Transformer used 0.01).

    Shape:
        - x: ``[B, in_dim]``; mask: ``[B]`` bool or None; output ``[B, out_dim]``.
    """

    reads: ClassVar[tuple[type, ...]] = (TableInput,)
    stackable: ClassVar[bool] = False

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        width: PositiveInt = 32
        depth: PositiveInt = 2
        expert_hidden: PositiveInt = 64
        n_experts: PositiveInt = 4
        k: PositiveInt = 2
        out_dim: PositiveInt = 16
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        aux_weight: NonNegativeFloat = 0.01

        @model_validator(mode="after")
        def _k_le_n(self) -> MoEEncoder.Config:
            if self.k > self.n_experts:
                raise ValueError(f"k ({self.k}) must not exceed n_experts ({self.n_experts})")
            return self

    def __init__(
        self,
        input: TableInput,
        *,
        width: int = 32,
        depth: int = 2,
        expert_hidden: int = 64,
        n_experts: int = 4,
        k: int = 2,
        out_dim: int = 16,
        dropout: float = 0.1,
        aux_weight: float = 0.01,
    ) -> None:
        super().__init__()
        in_dim = input.n_features
        self.input = nn.Linear(in_dim, width)
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(depth))
        self.blocks = nn.ModuleList(
            MoEFeedForward(width, expert_hidden, n_experts=n_experts, k=k) for _ in range(depth)
        )
        self.drop = nn.Dropout(dropout)
        self.final_norm = nn.LayerNorm(width)
        self.output = nn.Linear(width, out_dim)
        self.in_dim, self.out_dim, self.aux_weight = in_dim, out_dim, aux_weight
        self._ran = False

    def reset_parameters(self) -> None:
        for m in [self.input, *self.norms, *self.blocks, self.final_norm, self.output]:
            m.reset_parameters()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        h = self.input(x)  # (B, width)
        for norm, moe in zip(self.norms, self.blocks, strict=True):
            h = h + self.drop(moe(norm(h), mask))
        z = self.output(self.final_norm(h))
        self._ran = True
        if mask is not None:
            z = z * mask.unsqueeze(-1).to(z.dtype)
        return z

    def aux_loss(self) -> Tensor | None:
        """``aux_weight`` times the blocks' load-balancing losses of the last forward."""
        if not self._ran:
            return None
        return self.aux_weight * sum(b.aux_loss for b in self.blocks)  # type: ignore[return-value]
