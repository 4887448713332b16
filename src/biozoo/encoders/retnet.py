"""The ``retnet`` encoder: a stack of (bidirectional) retention layers and masked mean pooling.

Sun et al. 2023, "Retentive Network: A Successor to Transformer for Large Language Models",
https://arxiv.org/abs/2307.08621. A linear recurrence with a parallel form
(:mod:`biozoo.layers.retention`): it trains in the chunkwise form (parallel inside chunks,
linear in the length overall, ``benchmarks/results/scan_speed.md``) and gives the same
embedding step by step with ``form="recurrent"``. Plain tensor algebra, so the encoder is
stackable (``vmap``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from torch import Tensor, nn

from biozoo.encoders._registry import ENCODERS
from biozoo.errors import BiozooError
from biozoo.inputs import GroupsInput, SeriesInput, TableInput, TokensInput
from biozoo.layers.retention import RetentionLayer
from biozoo.layers.token_input import TokenInput, compact_tokens, masked_mean, zero_absent

__all__ = ["RetNetEncoder"]


@ENCODERS.register("retnet")
class RetNetEncoder(nn.Module):
    """Tokens -> retention layers -> LayerNorm -> masked mean -> linear map.

    Args:
        input: the tokens, series, groups or table it reads (sizes come from the data).
        d_model: token width.
        heads: retention heads (each its own decay; ``d_model / heads`` even).
        layers: number of retention layers.
        hidden: width of each layer's position-wise MLP.
        bidirectional: each layer also reads the sequence backwards (the encoder sees the
            whole sequence, so this is the default).
        dropout: dropout on the residual branches and before the output map.
        chunk: chunk length of the chunkwise form.
        form: ``chunkwise`` (training and batch inference), ``parallel`` (``O(L^2)``) or
            ``recurrent`` (one step at a time); all give the same embedding.
        out_dim: size of the embedding.

    Shape:
        - x: see :class:`TokenInput`; mask: ``[B]`` bool or None; output ``[B, out_dim]``.
    """

    reads: ClassVar[tuple[type, ...]] = (TokensInput, SeriesInput, GroupsInput, TableInput)
    stackable: ClassVar[bool] = True

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        d_model: PositiveInt = 32
        heads: PositiveInt = 4
        layers: PositiveInt = 2
        hidden: PositiveInt = 64
        bidirectional: bool = True
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        chunk: PositiveInt = 64
        form: Literal["chunkwise", "parallel", "recurrent"] = "chunkwise"
        out_dim: PositiveInt = 32

    def __init__(
        self,
        input: TokensInput | SeriesInput | GroupsInput | TableInput,
        *,
        d_model: int = 32,
        heads: int = 4,
        layers: int = 2,
        hidden: int = 64,
        bidirectional: bool = True,
        dropout: float = 0.1,
        chunk: int = 64,
        form: Literal["chunkwise", "parallel", "recurrent"] = "chunkwise",
        out_dim: int = 32,
    ) -> None:
        super().__init__()
        if d_model % heads or (d_model // heads) % 2:
            raise BiozooError(
                f"retnet d_model {d_model} must be a multiple of heads {heads} with an even "
                "head width"
            )
        self.input, self.out_dim, self.form = input, out_dim, form
        self.tokens = TokenInput(input, d_model)
        self.layers = nn.ModuleList(
            RetentionLayer(
                d_model, heads, hidden=hidden, bidirectional=bidirectional, dropout=dropout,
                chunk=chunk,
            )
            for _ in range(layers)
        )  # fmt: skip
        self.norm = nn.LayerNorm(d_model)
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
            h = layer(h, tmask, form=self.form)
        pooled = masked_mean(self.norm(h), tmask)
        z = self.proj(self.drop(pooled))
        return zero_absent(z, tmask, mask)
