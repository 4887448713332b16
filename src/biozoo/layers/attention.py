"""Multi-head self- and cross-attention, and the pre-norm transformer block built on it.

Vaswani et al. 2017, "Attention Is All You Need", https://arxiv.org/abs/1706.03762;
pre-norm residual blocks as in Xiong et al. 2020, https://arxiv.org/abs/2002.04745.

The attention runs on :func:`torch.nn.functional.scaled_dot_product_attention` (fused kernels,
no ``L x L`` matrix kept where the backend avoids it). Asked for its weights, it computes the
softmax explicitly instead and returns them.

Masks are boolean and True where a key is real: ``key_mask [B, Lk]``. A query whose keys are
all masked (a sample without any token) attends to every key instead of producing NaN; its
result is meaningless and the encoders zero such samples.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biozoo.errors import BiozooError
from biozoo.layers.linear_attention import LinearAttention
from biozoo.layers.multihead import head_dim
from biozoo.layers.positional import RotaryEmbedding
from biozoo.layers.vmap import under_vmap

__all__ = [
    "ATTENTION_KINDS",
    "FeedForward",
    "MultiHeadAttention",
    "TransformerBlock",
    "attention_mask",
]


def attention_mask(
    key_mask: Tensor | None, lq: int, lk: int, *, causal: bool = False, device=None
) -> Tensor | None:
    """A boolean ``[B or 1, 1, Lq, Lk]`` mask (True: attend), or None when nothing is masked.

    Args:
        key_mask: ``[B, Lk]`` bool, True for real keys, or None.
        lq: number of queries.
        lk: number of keys.
        causal: also forbid keys after the query's position.
        device: device of the mask when ``key_mask`` is None.
    """
    mask = None
    if key_mask is not None:
        # a query with no real key attends to all keys (its output is discarded anyway)
        empty = ~key_mask.any(dim=-1, keepdim=True)
        mask = (key_mask | empty)[:, None, None, :]  # (B, 1, 1, Lk)
    if causal:
        dev = key_mask.device if key_mask is not None else device
        tri = torch.ones(lq, lk, dtype=torch.bool, device=dev).tril(lk - lq)
        mask = tri[None, None] if mask is None else mask & tri
    return mask


class MultiHeadAttention(nn.Module):
    """Multi-head attention of queries ``x`` on keys/values ``context`` (``x`` itself if None).

    Args:
        dim: query width (and output width); a multiple of ``heads``.
        heads: number of heads.
        kv_dim: width of the context tokens for cross-attention (default ``dim``).
        dropout: dropout on the attention weights (training only).
        bias: biases in the projections.
        rotary: rotate queries and keys by their positions (RoPE).

    Shape:
        - x: ``[B, Lq, dim]``; context: ``[B, Lk, kv_dim]``; key_mask: ``[B, Lk]`` bool.
        - output: ``[B, Lq, dim]`` and, with ``need_weights``, weights ``[B, heads, Lq, Lk]``
          (each row sums to 1 over the unmasked keys, 0 on masked keys).
    """

    def __init__(
        self,
        dim: int,
        heads: int = 4,
        *,
        kv_dim: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
        rotary: bool = False,
    ) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        self.head_dim = head_dim(dim, heads, "attention width")
        self.dropout = dropout
        self.q_proj = nn.Linear(dim, dim, bias=bias)
        self.kv_proj = nn.Linear(kv_dim or dim, 2 * dim, bias=bias)
        self.out_proj = nn.Linear(dim, dim, bias=bias)
        self.rotary = RotaryEmbedding(self.head_dim) if rotary else None

    def reset_parameters(self) -> None:
        for lin in (self.q_proj, self.kv_proj, self.out_proj):
            lin.reset_parameters()

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        key_mask: Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        ctx = x if context is None else context
        b, lq, _ = x.shape
        lk = ctx.shape[1]
        q = self.q_proj(x).view(b, lq, self.heads, self.head_dim).transpose(1, 2)  # (B, h, Lq, hd)
        kv = self.kv_proj(ctx).view(b, lk, 2, self.heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, h, Lk, hd) each
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        mask = attention_mask(key_mask, lq, lk, causal=causal, device=x.device)
        p = self.dropout if self.training else 0.0
        weights = None
        # SDPA's fused CPU kernel has no vmap batching rule (vmap would loop over members);
        # the explicit softmax path batches
        if need_weights or under_vmap(q):
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)  # (B, h, Lq, Lk)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            out = F.dropout(weights, p, training=self.training) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        out = out.transpose(1, 2).reshape(b, lq, self.dim)  # (B, Lq, dim)
        return self.out_proj(out), weights

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}, rotary={self.rotary is not None}"


ATTENTION_KINDS: dict[str, type[nn.Module]] = {
    "softmax": MultiHeadAttention,
    "linear": LinearAttention,
}
"""Attention modules by name; each takes ``(dim, heads, *, dropout, rotary)``."""


class FeedForward(nn.Module):
    """``Linear -> GELU -> dropout -> Linear``, the transformer's position-wise MLP.

    Shape:
        - x: ``[..., dim]``; output ``[..., dim]``.
    """

    def __init__(self, dim: int, hidden: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )

    def reset_parameters(self) -> None:
        self.net[0].reset_parameters()
        self.net[3].reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class TransformerBlock(nn.Module):
    """Pre-norm block: ``x + attn(LN(x))`` then ``x + ffn(LN(x))``.

    Args:
        dim: token width.
        heads: attention heads.
        ffn: the position-wise block (default :class:`FeedForward` with ``hidden = 2 dim``).
        dropout: dropout on the attention weights and on both residual branches.
        rotary: rotary position embedding inside the attention.
        causal: each token attends to itself and earlier tokens only (a decoder block).
        attention: ``softmax`` (:class:`MultiHeadAttention`) or ``linear``
            (:class:`~biozoo.layers.linear_attention.LinearAttention`, linear in length,
            bidirectional only).
        attn: the attention module itself, built by the caller (e.g. over a token grid,
            :data:`~biozoo.layers.axial_attention.GRID_ATTENTION_KINDS`); replaces
            ``attention`` and ``rotary``.

    Shape:
        - x: ``[B, L, dim]``; key_mask: ``[B, L]`` bool or None; output ``[B, L, dim]``
          (and the attention weights ``[B, heads, L, L]`` with ``need_weights``).
    """

    def __init__(
        self,
        dim: int,
        heads: int = 4,
        *,
        ffn: nn.Module | None = None,
        dropout: float = 0.0,
        rotary: bool = False,
        causal: bool = False,
        attention: str = "softmax",
        attn: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if attention not in ATTENTION_KINDS:
            raise BiozooError(f"unknown attention {attention!r}; use {', '.join(ATTENTION_KINDS)}")
        self.causal = causal
        self.norm1 = nn.LayerNorm(dim)
        if attn is None:
            attn = ATTENTION_KINDS[attention](dim, heads, dropout=dropout, rotary=rotary)
        self.attn = attn
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = ffn if ffn is not None else FeedForward(dim, 2 * dim, dropout=dropout)
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        self.norm1.reset_parameters()
        self.norm2.reset_parameters()
        self.attn.reset_parameters()
        if hasattr(self.ffn, "reset_parameters"):
            self.ffn.reset_parameters()

    def forward(
        self, x: Tensor, key_mask: Tensor | None = None, *, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        a, weights = self.attn(
            self.norm1(x), key_mask=key_mask, causal=self.causal, need_weights=need_weights
        )
        x = x + self.drop(a)
        x = x + self.drop(self.ffn(self.norm2(x)))
        return x, weights
