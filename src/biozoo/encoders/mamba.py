"""The ``mamba`` encoder: a stack of (bidirectional) Mamba layers and masked mean pooling.

Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
https://arxiv.org/abs/2312.00752. Time and memory grow linearly with the sequence length
(``benchmarks/results/scan_speed.md``). The scan is pure PyTorch
(:mod:`biozoo.layers.ssm`); it has a ``vmap`` rule, so the encoder is stackable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from torch import Tensor, nn

from biozoo.encoders._registry import ENCODERS
from biozoo.inputs import GroupsInput, SeriesInput, TableInput, TokensInput
from biozoo.layers.mamba import MambaLayer
from biozoo.layers.token_input import TokenInput, compact_tokens, masked_mean, zero_absent

__all__ = ["MambaEncoder"]


@ENCODERS.register("mamba")
class MambaEncoder(nn.Module):
    """Tokens -> Mamba layers -> RMSNorm -> masked mean -> linear map.

    Args:
        input: the tokens, series, groups or table it reads (sizes come from the data).
        d_model: token width.
        layers: number of Mamba layers.
        d_state: state size per channel.
        expand: inner width factor of each block.
        d_conv: width of the causal depthwise convolution.
        bidirectional: each layer also reads the sequence backwards (the encoder sees the
            whole sequence, so this is the default).
        dropout: dropout between layers and before the output map.
        scan: ``fast`` (blocked scan, custom backward) or ``reference`` (plain loop).
        out_dim: size of the embedding.

    Shape:
        - x: see :class:`TokenInput`; mask: ``[B]`` bool or None; output ``[B, out_dim]``.
    """

    reads: ClassVar[tuple[type, ...]] = (TokensInput, SeriesInput, GroupsInput, TableInput)
    stackable: ClassVar[bool] = True

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        d_model: PositiveInt = 32
        layers: PositiveInt = 2
        d_state: PositiveInt = 16
        expand: PositiveInt = 2
        d_conv: PositiveInt = 4
        bidirectional: bool = True
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        scan: Literal["fast", "reference"] = "fast"
        out_dim: PositiveInt = 32

    def __init__(
        self,
        input: TokensInput | SeriesInput | GroupsInput | TableInput,
        *,
        d_model: int = 32,
        layers: int = 2,
        d_state: int = 16,
        expand: int = 2,
        d_conv: int = 4,
        bidirectional: bool = True,
        dropout: float = 0.1,
        scan: Literal["fast", "reference"] = "fast",
        out_dim: int = 32,
    ) -> None:
        super().__init__()
        self.input, self.out_dim = input, out_dim
        self.tokens = TokenInput(input, d_model)
        self.layers = nn.ModuleList(
            MambaLayer(
                d_model,
                bidirectional=bidirectional,
                d_state=d_state,
                expand=expand,
                d_conv=d_conv,
                scan=scan,
            )
            for _ in range(layers)
        )
        self.norm = nn.RMSNorm(d_model, eps=1e-5)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(d_model, out_dim)

    def reset_parameters(self) -> None:
        self.tokens.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        self.norm.reset_parameters()
        self.proj.reset_parameters()

    def forward(self, x: Tensor | Mapping[str, Tensor], mask: Tensor | None = None) -> Tensor:
        h, tmask = compact_tokens(*self.tokens(x))  # (B, L, d), real tokens first
        for layer in self.layers:
            h = self.drop(layer(h, tmask))
        pooled = masked_mean(self.norm(h), tmask)
        z = self.proj(self.drop(pooled))
        return zero_absent(z, tmask, mask)
