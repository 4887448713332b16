"""The ``cnn1d`` encoder: residual dilated 1-D convolutions and masked pooling.

Dilations double from block to block, so the receptive field grows exponentially with depth
(WaveNet: van den Oord et al. 2016, https://arxiv.org/abs/1609.03499; TCN: Bai et al. 2018,
https://arxiv.org/abs/1803.01271). The convolutions are centred (not causal): an encoder
reads the whole sequence.

Padding never changes a result: real tokens are moved to the front, padded positions are
zeroed before every convolution (the zeros a convolution sees past a sequence's end either
way), normalisation is per position (LayerNorm, never BatchNorm), and pooling is masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator
from torch import Tensor, nn

from biozoo.encoders._registry import ENCODERS
from biozoo.errors import BiozooError
from biozoo.inputs import GroupsInput, SeriesInput, TableInput, TokensInput
from biozoo.layers.token_input import TokenInput, compact_tokens, masked_mean, zero_absent

__all__ = ["CNN1dEncoder"]


class _ConvBlock(nn.Module):
    """``conv -> LayerNorm -> GELU -> dropout`` on ``[B, L, d]`` tokens."""

    def __init__(self, d_model: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            d_model, d_model, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2
        )
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()
        self.norm.reset_parameters()

    def forward(self, h: Tensor) -> Tensor:
        h = self.conv(h.transpose(1, 2)).transpose(1, 2)  # (B, L, d)
        return self.drop(F.gelu(self.norm(h)))


@ENCODERS.register("cnn1d")
class CNN1dEncoder(nn.Module):
    """Tokens -> residual dilated convolutions -> masked mean or max pooling -> linear map.

    Args:
        input: the tokens, series, groups or table it reads (sizes come from the data).
        d_model: token width (convolution channels).
        layers: residual convolution blocks; block ``i`` has dilation ``dilation_base ** i``.
        kernel: kernel width (odd).
        dilation_base: growth factor of the dilation.
        dropout: dropout inside the blocks and before the output map.
        pool: ``mean`` or ``max`` over the real positions.
        out_dim: size of the embedding.

    Shape:
        - x: see :class:`TokenInput`; mask: ``[B]`` bool or None; output ``[B, out_dim]``.
    """

    reads: ClassVar[tuple[type, ...]] = (TokensInput, SeriesInput, GroupsInput, TableInput)
    stackable: ClassVar[bool] = True

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        d_model: PositiveInt = 32
        layers: PositiveInt = 3
        kernel: PositiveInt = 5
        dilation_base: PositiveInt = 2
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        pool: Literal["mean", "max"] = "mean"
        out_dim: PositiveInt = 32

        @field_validator("kernel")
        @classmethod
        def _odd(cls, v: int) -> int:
            if v % 2 == 0:
                raise ValueError(f"kernel must be odd (centred convolution), got {v}")
            return v

    def __init__(
        self,
        input: TokensInput | SeriesInput | GroupsInput | TableInput,
        *,
        d_model: int = 32,
        layers: int = 3,
        kernel: int = 5,
        dilation_base: int = 2,
        dropout: float = 0.1,
        pool: Literal["mean", "max"] = "mean",
        out_dim: int = 32,
    ) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise BiozooError(f"cnn1d kernel must be odd (centred convolution), got {kernel}")
        self.input, self.out_dim, self.pool = input, out_dim, pool
        self.tokens = TokenInput(input, d_model)
        self.blocks = nn.ModuleList(
            _ConvBlock(d_model, kernel, dilation_base**i, dropout) for i in range(layers)
        )
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(d_model, out_dim)

    def reset_parameters(self) -> None:
        self.tokens.reset_parameters()
        for block in self.blocks:
            block.reset_parameters()
        self.proj.reset_parameters()

    def forward(self, x: Tensor | Mapping[str, Tensor], mask: Tensor | None = None) -> Tensor:
        h, tmask = compact_tokens(*self.tokens(x))  # (B, L, d)
        keep = tmask.unsqueeze(-1).to(h.dtype)
        for block in self.blocks:
            h = h + block(h * keep)
        if self.pool == "mean":
            pooled = masked_mean(h, tmask)
        else:
            pooled = h.masked_fill(~tmask.unsqueeze(-1), float("-inf")).amax(dim=1)
            pooled = torch.where(tmask.any(1, keepdim=True), pooled, 0.0)
        z = self.proj(self.drop(pooled))
        return zero_absent(z, tmask, mask)
