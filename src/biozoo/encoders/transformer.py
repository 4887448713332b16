"""The ``transformer`` encoder: pre-norm self-attention blocks over any sequence-like input.

Vaswani et al. 2017, "Attention Is All You Need", https://arxiv.org/abs/1706.03762; a
``[CLS]`` token as in BERT (Devlin et al. 2019, https://arxiv.org/abs/1810.04805); omics
groups as tokens as in AttOmics, table features as tokens as in FT-Transformer (see
:mod:`biozoo.layers.token_input`).

On ordered inputs (sequences, series) a convolutional stem (:mod:`biozoo.layers.conv_stem`)
mixes neighbouring tokens before the blocks by default: without it the transformer does not
learn residue order on small data (``benchmarks/results/order_motif.md``).

The position-wise block is an MLP, a KAN (``biozoo.layers.kan.KANFeedForward``) or a
mixture of experts (``biozoo.layers.moe.MoEFeedForward``). ``layers`` is a number of
attention blocks or a list of layer kinds, ``[mamba, mamba, attention]``, for the hybrid stacks
of Jamba (Lieber et al. 2024, https://arxiv.org/abs/2403.19887) and MambaVision: ``mamba``
is a bidirectional :class:`~biozoo.layers.mamba.MambaLayer` (the ``mamba`` encoder's
defaults), ``retention`` a bidirectional :class:`~biozoo.layers.retention.RetentionLayer`.

A mixture of experts keeps Python state (its load-balancing loss) between calls, which
``vmap`` cannot batch: such an encoder sets ``stackable = False`` on the instance (the class
attribute stays True, the default ``mlp`` block being stackable). Read stackability from a built
encoder, not from the class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt, field_validator
from torch import Tensor, nn

from biozoo.encoders._registry import ENCODERS
from biozoo.errors import BiozooError
from biozoo.inputs import GroupsInput, SeriesInput, TableInput, TokensInput
from biozoo.layers.attention import FeedForward, TransformerBlock
from biozoo.layers.conv_stem import ConvStem
from biozoo.layers.mamba import MambaLayer
from biozoo.layers.multihead import head_dim
from biozoo.layers.positional import additive_positional
from biozoo.layers.retention import RetentionLayer
from biozoo.layers.token_input import (
    TokenInput,
    compact_tokens,
    keep_random_share,
    masked_mean,
    zero_absent,
)

__all__ = ["TransformerEncoder"]

LayerKind = Literal["attention", "mamba", "retention"]


def _feedforward(kind: str, dim: int, hidden: int, dropout: float) -> nn.Module:
    if kind == "mlp":
        return FeedForward(dim, hidden, dropout=dropout)
    try:  # optional blocks, imported only when asked for
        if kind == "kan":
            from biozoo.layers.kan import KANFeedForward

            return KANFeedForward(dim, hidden, grid=5, order=3)
        if kind == "moe":
            from biozoo.layers.moe import MoEFeedForward

            return MoEFeedForward(dim, hidden, n_experts=4, k=2)
    except ImportError as err:
        raise BiozooError(f"transformer ffn {kind!r} is unavailable: {err}") from err
    raise BiozooError(f"unknown transformer ffn {kind!r}; use mlp, kan or moe")


class _Recurrent(nn.Module):
    """A sequence layer ``(x, mask) -> x`` in a stack of transformer blocks (no weights)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def reset_parameters(self) -> None:
        self.layer.reset_parameters()

    def forward(
        self, x: Tensor, key_mask: Tensor | None = None, *, need_weights: bool = False
    ) -> tuple[Tensor, None]:
        return self.layer(x, key_mask), None


def _mamba(d_model: int, heads: int, hidden: int, dropout: float) -> nn.Module:
    return _Recurrent(MambaLayer(d_model, bidirectional=True))


def _retention(d_model: int, heads: int, hidden: int, dropout: float) -> nn.Module:
    return _Recurrent(
        RetentionLayer(d_model, heads, hidden=hidden, bidirectional=True, dropout=dropout)
    )


_OTHER_LAYERS = {"mamba": _mamba, "retention": _retention}  # beside "attention"


@ENCODERS.register("transformer")
class TransformerEncoder(nn.Module):
    """Tokens -> convolutional stem -> (+ positions) -> pre-norm blocks -> ``[CLS]`` or mean ->
    linear map.

    Args:
        input: the tokens, series, groups or table it reads (sizes come from the data).
        d_model: token width.
        heads: attention heads (``d_model`` must be a multiple).
        layers: the number of transformer blocks, or a list of layer kinds, bottom first:
            ``attention`` (a transformer block), ``mamba`` or ``retention``.
        hidden: width of the position-wise block.
        dropout: dropout on attention weights, residual branches and before the output map.
        token_dropout: share of a training sample's tokens hidden from every layer (masked
            like padding), drawn anew for each sample and step; a sample keeps all its tokens
            when the draw would hide every one. Off in evaluation. A regulariser for small
            cohorts: the model cannot lean on any one token (gene group, feature).
        pooling: ``cls`` (a learned token prepended to the sequence) or ``mean`` (masked).
        positional: ``learned``, ``sinusoidal`` (added to tokens), ``rotary`` (RoPE inside
            the attention) or ``none`` (table features and groups carry their identity in
            their own weights already).
        stem: ``conv`` (a residual convolution of width ``stem_kernel`` mixes neighbouring
            tokens before the blocks, :class:`~biozoo.layers.conv_stem.ConvStem`) or ``none``.
            Applies to ordered inputs (tokens, series) only; table features and groups have
            no neighbours.
        stem_kernel: width of the stem's convolution (odd).
        ffn: position-wise block: ``mlp``, ``kan`` or ``moe``.
        attention: ``softmax`` (scaled dot-product) or ``linear`` (softmax-free, ``elu + 1``
            feature map, time and memory linear in the length:
            :class:`~biozoo.layers.linear_attention.LinearAttention`).
        aux_weight: weight of the MoE load-balancing loss in :meth:`aux_loss` (Switch
            Transformer used 0.01); used with ``ffn="moe"`` only.
        kan_reg: weight of the KAN L1 + entropy penalty in :meth:`aux_loss` (0: none, as in
            the ``kan`` encoder); used with ``ffn="kan"`` only.
        out_dim: size of the embedding.

    Shape:
        - x: see :class:`TokenInput`; mask: ``[B]`` bool or None; output ``[B, out_dim]``.
    """

    reads: ClassVar[tuple[type, ...]] = (TokensInput, SeriesInput, GroupsInput, TableInput)
    stackable: ClassVar[bool] = True  # instance-level: False with ffn="moe"

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        d_model: PositiveInt = 32
        heads: PositiveInt = 4
        layers: PositiveInt | list[LayerKind] = 2
        hidden: PositiveInt = 64
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        token_dropout: float = Field(0.0, ge=0.0, lt=1.0)
        pooling: Literal["cls", "mean"] = "cls"
        positional: Literal["learned", "sinusoidal", "rotary", "none"] = "sinusoidal"
        stem: Literal["conv", "none"] = "conv"
        stem_kernel: PositiveInt = 3
        ffn: Literal["mlp", "kan", "moe"] = "mlp"
        attention: Literal["softmax", "linear"] = "softmax"
        aux_weight: NonNegativeFloat = 0.01
        kan_reg: NonNegativeFloat = 0.0
        out_dim: PositiveInt = 32

        @field_validator("layers")
        @classmethod
        def _some(cls, v: int | list[str]) -> int | list[str]:
            if isinstance(v, list) and not v:
                raise ValueError("layers must name at least one layer kind")
            return v

        @field_validator("stem_kernel")
        @classmethod
        def _odd(cls, v: int) -> int:
            if v % 2 == 0:
                raise ValueError(f"stem_kernel must be odd (centred convolution), got {v}")
            return v

    def __init__(
        self,
        input: TokensInput | SeriesInput | GroupsInput | TableInput,
        *,
        d_model: int = 32,
        heads: int = 4,
        layers: int | list[LayerKind] = 2,
        hidden: int = 64,
        dropout: float = 0.1,
        token_dropout: float = 0.0,
        pooling: Literal["cls", "mean"] = "cls",
        positional: Literal["learned", "sinusoidal", "rotary", "none"] = "sinusoidal",
        stem: Literal["conv", "none"] = "conv",
        stem_kernel: int = 3,
        ffn: Literal["mlp", "kan", "moe"] = "mlp",
        attention: Literal["softmax", "linear"] = "softmax",
        aux_weight: float = 0.01,
        kan_reg: float = 0.0,
        out_dim: int = 32,
    ) -> None:
        super().__init__()
        head_dim(d_model, heads, "transformer d_model")
        self.input, self.out_dim, self.pooling, self.ffn_kind = input, out_dim, pooling, ffn
        self.aux_weight, self.kan_reg = aux_weight, kan_reg
        self.token_dropout = token_dropout
        self.stackable = ffn != "moe"
        self.tokens = TokenInput(input, d_model)
        ordered = self.tokens.ordered and stem == "conv"
        self.stem = ConvStem(d_model, stem_kernel) if ordered else None
        extra = 1 if pooling == "cls" else 0
        self.cls = nn.Parameter(torch.empty(d_model)) if pooling == "cls" else None
        self.positional = additive_positional(positional, d_model, self.tokens.max_len + extra)
        kinds = ["attention"] * layers if isinstance(layers, int) else list(layers)
        unknown = sorted(set(kinds) - {"attention", *_OTHER_LAYERS})
        if unknown or not kinds:
            raise BiozooError(
                f"transformer layers {layers!r}: use a number or a list of attention, mamba, "
                "retention"
            )
        self.blocks = nn.ModuleList(
            TransformerBlock(
                d_model,
                heads,
                ffn=_feedforward(ffn, d_model, hidden, dropout),
                dropout=dropout,
                rotary=positional == "rotary",
                attention=attention,
            )
            if kind == "attention"
            else _OTHER_LAYERS[kind](d_model, heads, hidden, dropout)
            for kind in kinds
        )
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(d_model, out_dim)
        self.token_dim = d_model
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.tokens.reset_parameters()
        if self.stem is not None:
            self.stem.reset_parameters()
        if self.cls is not None:
            nn.init.normal_(self.cls, std=0.02)
        if self.positional is not None:
            self.positional.reset_parameters()
        for block in self.blocks:
            block.reset_parameters()
        self.norm.reset_parameters()
        self.proj.reset_parameters()

    def _embed(self, x: Tensor | Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        h, tmask = self.tokens(x)  # (B, L, d)
        if self.stem is not None:  # real tokens first, so padding is a suffix of zeros
            h, tmask = compact_tokens(h, tmask)
            h = self.stem(h, tmask)
        tmask = self._drop_tokens(tmask)
        if self.cls is not None:
            cls = self.cls.expand(h.shape[0], 1, -1)
            h = torch.cat([cls, h], dim=1)  # (B, 1 + L, d)
            tmask = torch.cat([tmask.new_ones(h.shape[0], 1), tmask], dim=1)
        if self.positional is not None:
            h = self.positional(h)
        return h, tmask

    def _drop_tokens(self, tmask: Tensor) -> Tensor:
        """``tmask`` with a random share ``token_dropout`` of each sample's tokens masked
        (training only); a sample that would lose every token keeps them all."""
        if not self.training or self.token_dropout == 0:
            return tmask
        return keep_random_share(tmask, self.token_dropout)

    def forward_tokens(
        self, x: Tensor | Mapping[str, Tensor], *, need_weights: bool = False
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """Token states after the last block (``[CLS]`` first if used), their mask, and each
        block's attention weights ``[B, heads, L', L']`` when ``need_weights``.
        """
        h, tmask = self._embed(x)
        maps = []
        for block in self.blocks:
            h, weights = block(h, tmask, need_weights=need_weights)
            if weights is not None:
                maps.append(weights)
        return self.norm(h), tmask, maps

    def encode_tokens(self, x: Tensor | Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The input tokens' states after the last block ``[B, L, d_model]`` (the encoder's
        own ``[CLS]`` left out) and their mask; what a decoder attends to."""
        h, tmask, _ = self.forward_tokens(x)
        if self.cls is not None:
            h, tmask = h[:, 1:], tmask[:, 1:]
        return h, tmask

    def attention_maps(self, x: Tensor | Mapping[str, Tensor]) -> Tensor:
        """Attention weights of every attention block, ``[B, blocks, heads, L', L']``.

        ``L'`` counts the ``[CLS]`` token (position 0) when ``pooling="cls"``.
        """
        _, _, maps = self.forward_tokens(x, need_weights=True)
        if not maps:
            raise BiozooError("this transformer has no attention layer, so no attention maps")
        return torch.stack(maps, dim=1)

    def forward(self, x: Tensor | Mapping[str, Tensor], mask: Tensor | None = None) -> Tensor:
        h, tmask, _ = self.forward_tokens(x)
        pooled = h[:, 0] if self.cls is not None else masked_mean(h, tmask)
        z = self.proj(self.drop(pooled))
        real = tmask[:, 1:] if self.cls is not None else tmask
        return zero_absent(z, real, mask)

    def aux_loss(self) -> Tensor | None:
        """The position-wise blocks' weighted auxiliary losses, or None.

        MoE: ``aux_weight`` times the load-balancing losses of the LAST forward call (Python
        state, hence ``stackable = False``). KAN: ``kan_reg`` times the L1 + entropy penalty
        of the spline coefficients (parameters only, vmap-safe).
        """
        ffns = [block.ffn for block in self.blocks if isinstance(block, TransformerBlock)]
        if self.ffn_kind == "moe" and self.aux_weight > 0 and ffns:
            terms = [ffn.aux_loss for ffn in ffns]
            return self.aux_weight * torch.stack(terms).sum()
        if self.ffn_kind == "kan" and self.kan_reg > 0 and ffns:
            terms = [ffn.regularization_loss() for ffn in ffns]
            return self.kan_reg * torch.stack(terms).sum()
        return None
