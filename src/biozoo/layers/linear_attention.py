"""Softmax-free linear attention: a kernel feature map instead of the softmax.

Katharopoulos et al. 2020, "Transformers are RNNs: Fast Autoregressive Transformers with
Linear Attention", https://arxiv.org/abs/2006.16236 (feature map ``elu(x) + 1``, eq. 4-7);
rotary positions inside linear attention as in RoFormer (Su et al. 2021,
https://arxiv.org/abs/2104.09864, section 3.3: rotate the features in the numerator only).

For one head, with ``phi(x) = elu(x) + 1 > 0``::

    out_i = phi(q_i) . sum_j phi(k_j) v_j^T  /  phi(q_i) . sum_j phi(k_j)

The sums over keys are formed once (``[hd, hd]`` and ``[hd]`` per head), so time and memory
grow linearly with the length; no ``L x L`` matrix is ever made unless the weights are asked
for. Padded keys are zeroed in ``phi(k)`` and ``v`` before the sums: they change nothing.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from biozoo.errors import BiozooError
from biozoo.layers.multihead import head_dim
from biozoo.layers.positional import RotaryEmbedding

__all__ = ["LinearAttention"]

EPS = 1e-6


def _features(x: Tensor) -> Tensor:
    return F.elu(x) + 1.0


class LinearAttention(nn.Module):
    """Multi-head linear self-attention with the ``elu + 1`` feature map.

    Drop-in for :class:`~biozoo.layers.attention.MultiHeadAttention` in self-attention
    (``context`` is not supported, nor ``causal``: the encoders attend both ways).

    Args:
        dim: token width; a multiple of ``heads``.
        heads: number of heads.
        dropout: dropout on the attended values before the output map (training only; there
            are no weights to drop).
        bias: biases in the projections.
        rotary: rotate the query and key features by their positions (numerator only).

    Shape:
        - x: ``[B, L, dim]``; key_mask: ``[B, L]`` bool (True: a real key) or None.
        - output: ``[B, L, dim]`` and, with ``need_weights``, the implied weights
          ``[B, heads, L, L]`` (without rotary: rows sum to 1, masked keys 0).
    """

    def __init__(
        self,
        dim: int,
        heads: int = 4,
        *,
        dropout: float = 0.0,
        bias: bool = True,
        rotary: bool = False,
    ) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        self.head_dim = head_dim(dim, heads, "attention width")
        self.qkv_proj = nn.Linear(dim, 3 * dim, bias=bias)
        self.out_proj = nn.Linear(dim, dim, bias=bias)
        self.drop = nn.Dropout(dropout)
        self.rotary = RotaryEmbedding(self.head_dim) if rotary else None

    def reset_parameters(self) -> None:
        self.qkv_proj.reset_parameters()
        self.out_proj.reset_parameters()

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
            raise BiozooError("linear attention supports bidirectional self-attention only")
        b, length, _ = x.shape
        qk, v = self.qkv_proj(x).split([2 * self.dim, self.dim], dim=-1)
        qk = _features(qk).view(b, length, 2, self.heads, self.head_dim)  # on contiguous rows
        q, k = qk.permute(2, 0, 3, 1, 4).unbind(0)  # (B, h, L, hd) each
        v = v.reshape(b, length, self.heads, self.head_dim).transpose(1, 2)
        if key_mask is not None:
            keep = key_mask[:, None, :, None].to(x.dtype)  # (B, 1, L, 1)
            k, v = k * keep, v * keep
        den = q @ k.sum(dim=2).unsqueeze(-1)  # (B, h, L, 1)
        qn, kn = (self.rotary(q), self.rotary(k)) if self.rotary is not None else (q, k)
        weights = None
        if need_weights:
            weights = (qn @ kn.transpose(-1, -2)) / (den + EPS)  # (B, h, L, L)
            out = weights @ v
        else:
            kv = kn.transpose(-1, -2) @ v  # (B, h, hd, hd): sum_j phi(k_j) v_j^T
            out = (qn @ kv) / (den + EPS)  # (B, h, L, hd)
        out = out.transpose(1, 2).reshape(b, length, self.dim)
        return self.out_proj(self.drop(out)), weights

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}, rotary={self.rotary is not None}"
