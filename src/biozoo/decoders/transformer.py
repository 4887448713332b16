"""The ``transformer`` decoder: causal self-attention, cross-attention on the encoder's tokens.

Vaswani et al. 2017, "Attention Is All You Need", https://arxiv.org/abs/1706.03762, with
pre-norm residual blocks (Xiong et al. 2020, https://arxiv.org/abs/2002.04745). Each block
reads like the paper's decoder layer::

    x = x + self_attn(LN(x), causal)
    x = x + cross_attn(LN(x), memory)      # queries: target positions; keys: input tokens
    x = x + ffn(LN(x))

Both attentions are :class:`biozoo.layers.attention.MultiHeadAttention`. Decoding recomputes
the prefix at every step (no key/value cache): quadratic in the output length, which is
small here.

Token embeddings are added to the positions unscaled, as the transformer encoder does: an
embedding initialised ``N(0, 1)`` has a root mean square of 1 per channel, the sinusoids
``1/sqrt(2)``. The paper's factor ``sqrt(d_model)`` is meant for embeddings initialised at
``d_model^-1/2`` (shared with the output layer); on ``N(0, 1)`` embeddings it made tokens
``sqrt(d_model)`` times louder than positions, and a decoder that cannot tell its position
cannot find its codon: on coding DNA to protein (``benchmarks/results/seq2seq.md``) it
memorised training prefixes and stayed at 0.11 per-residue accuracy held out.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field, PositiveInt
from torch import Tensor, nn

from biozoo.decoders._registry import DECODERS
from biozoo.decoders.protocols import DecodingOptions, State
from biozoo.layers.attention import FeedForward, MultiHeadAttention
from biozoo.layers.multihead import head_dim
from biozoo.layers.positional import additive_positional

__all__ = ["CrossAttentionBlock", "TransformerDecoder"]


class CrossAttentionBlock(nn.Module):
    """Pre-norm decoder block: causal self-attention, cross-attention, position-wise MLP.

    Shape:
        - x ``[B, T, dim]``; memory ``[B, L, kv_dim]``; mask ``[B, L]``; output ``[B, T, dim]``
          and the cross-attention weights ``[B, heads, T, L]``.
    """

    def __init__(self, dim: int, kv_dim: int, heads: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(dim, heads, kv_dim=kv_dim, dropout=dropout)
        self.ffn = FeedForward(dim, hidden, dropout=dropout)
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        for m in (self.norm1, self.norm2, self.norm3, self.self_attn, self.cross_attn, self.ffn):
            m.reset_parameters()

    def forward(self, x: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        a, _ = self.self_attn(self.norm1(x), causal=True)
        x = x + self.drop(a)
        a, weights = self.cross_attn(self.norm2(x), memory, key_mask=mask, need_weights=True)
        x = x + self.drop(a)
        return x + self.drop(self.ffn(self.norm3(x))), weights


@DECODERS.register("transformer")
class TransformerDecoder(nn.Module):
    """Target tokens -> (+ positions) -> decoder blocks -> next-token logits.

    Args:
        memory_dim: width of the encoder's token states (from the encoder).
        n_outputs: target vocabulary size, special ids included (from the task).
        d_model: token width.
        heads: attention heads (``d_model`` must be a multiple).
        layers: decoder blocks.
        hidden: width of the position-wise block.
        dropout: dropout on attention weights and residual branches.
        positional: ``sinusoidal`` or ``learned`` positions of the target tokens.
        search: ``greedy`` or ``beam`` decoding.
        beam_width: beams per sample (``search: beam``).
        max_len: most tokens decoded per sample, ``[EOS]`` included (and the length the
            ``learned`` positions cover).
    """

    stackable: ClassVar[bool] = False

    class Config(DecodingOptions):
        d_model: PositiveInt = 32
        heads: PositiveInt = 4
        layers: PositiveInt = 2
        hidden: PositiveInt = 64
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        positional: Literal["learned", "sinusoidal"] = "sinusoidal"

    def __init__(
        self,
        memory_dim: int,
        n_outputs: int,
        *,
        d_model: int = 32,
        heads: int = 4,
        layers: int = 2,
        hidden: int = 64,
        dropout: float = 0.1,
        positional: Literal["learned", "sinusoidal"] = "sinusoidal",
        search: Literal["greedy", "beam"] = "greedy",
        beam_width: int = 4,
        max_len: int = 128,
    ) -> None:
        super().__init__()
        head_dim(d_model, heads, "decoder d_model")
        self.decoding = DecodingOptions(search=search, beam_width=beam_width, max_len=max_len)
        self.embed = nn.Embedding(n_outputs, d_model, padding_idx=0)
        self.positional = additive_positional(positional, d_model, max_len + 1)
        self.blocks = nn.ModuleList(
            CrossAttentionBlock(d_model, memory_dim, heads, hidden, dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, n_outputs)

    def reset_parameters(self) -> None:
        self.embed.reset_parameters()
        if hasattr(self.positional, "reset_parameters"):
            self.positional.reset_parameters()
        for block in self.blocks:
            block.reset_parameters()
        self.norm.reset_parameters()
        self.out.reset_parameters()

    def teacher_forced(self, memory: Tensor, mask: Tensor, prefix: Tensor) -> tuple[Tensor, Tensor]:
        x = self.embed(prefix)  # (N, T, d): as loud as the positions, not sqrt(d) louder
        if self.positional is not None:
            x = self.positional(x)
        maps = []
        for block in self.blocks:
            x, weights = block(x, memory, mask)
            maps.append(weights)
        attention = torch.stack(maps, dim=1).mean(dim=(1, 2))  # (N, T, L): layers, heads
        return self.out(self.norm(x)), attention

    def start(self, memory: Tensor, mask: Tensor) -> State:
        return {"memory": memory, "mask": mask}

    def step(self, prefix: Tensor, state: State) -> tuple[Tensor, State, Tensor]:
        logits, attention = self.teacher_forced(state["memory"], state["mask"], prefix)
        return logits[:, -1].log_softmax(dim=-1), state, attention[:, -1]
