"""Multi-scale retention (RetNet): a linear recurrence with a parallel form.

Sun et al. 2023, "Retentive Network: A Successor to Transformer for Large Language Models",
https://arxiv.org/abs/2307.08621 (eq. 1-9, Figure 3). Per head, with decay ``gamma`` and
rotated queries and keys::

    recurrent:  S_n = gamma S_{n-1} + k_n^T v_n,      o_n = q_n S_n
    parallel:   O = (Q K^T * D) V,   D[n, m] = gamma^(n - m) if n >= m else 0
    chunkwise:  the parallel form inside chunks of ``chunk`` positions, the recurrence
                carrying ``S`` from one chunk to the next

All three give the same result (a test holds them to 1e-5). The parallel form costs
``O(L^2)``; the chunkwise form ``O(L * chunk)`` and is what the layer runs (for ``L <=
chunk`` it *is* the parallel form); the recurrent form is the step-by-step loop used for
streaming inference and as the reference. Each head has its own decay, ``gamma_h = 1 -
2^(-5 - h)``. The outputs are normalised per head (a group norm, which makes the paper's
score normalisations unnecessary) and gated by ``swish(x W_G)``.

Padding never changes a result: padded keys and values are zeroed, so they add nothing to
the state; the decay and the rotation depend on offsets ``n - m`` only, so a shift of the
real tokens (a reversed right-padded sequence starts with its padding) changes nothing.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biozoo.errors import BiozooError
from biozoo.layers.attention import FeedForward
from biozoo.layers.multihead import head_dim
from biozoo.layers.positional import RotaryEmbedding

__all__ = [
    "MultiScaleRetention",
    "RetentionLayer",
    "retention",
    "retention_chunkwise",
    "retention_parallel",
    "retention_recurrent",
]

Form = Literal["chunkwise", "parallel", "recurrent"]


def _decay_matrix(log_gamma: Tensor, length: int) -> Tensor:
    """``D [h, L, L]``: ``gamma^(n - m)`` on and below the diagonal, 0 above."""
    idx = torch.arange(length, device=log_gamma.device)
    offset = (idx[:, None] - idx[None, :]).to(log_gamma.dtype)  # (L, L)
    causal = offset >= 0
    d = torch.exp(log_gamma[:, None, None] * offset.clamp_min(0))
    return d * causal


def retention_parallel(q: Tensor, k: Tensor, v: Tensor, log_gamma: Tensor) -> Tensor:
    """The parallel form: ``q, k, v [B, h, L, hd]``, ``log_gamma [h]`` -> ``[B, h, L, hd]``."""
    d = _decay_matrix(log_gamma, q.shape[-2])  # (h, L, L)
    return ((q @ k.transpose(-1, -2)) * d) @ v


def retention_recurrent(q: Tensor, k: Tensor, v: Tensor, log_gamma: Tensor) -> Tensor:
    """The recurrent form, one position at a time (same shapes as the parallel form)."""
    gamma = log_gamma.exp()[:, None, None]  # (h, 1, 1)
    state = q.new_zeros(*q.shape[:-2], k.shape[-1], v.shape[-1])  # (B, h, hd, hd)
    out = []
    for n in range(q.shape[-2]):
        state = gamma * state + k[..., n, :, None] * v[..., n, None, :]
        out.append((q[..., n, None, :] @ state).squeeze(-2))
    return torch.stack(out, dim=-2)


def retention_chunkwise(
    q: Tensor, k: Tensor, v: Tensor, log_gamma: Tensor, chunk: int = 64
) -> Tensor:
    """The chunkwise form: parallel within chunks of ``chunk``, recurrent across them."""
    length = q.shape[-2]
    if length <= chunk:
        return retention_parallel(q, k, v, log_gamma)
    n_chunks = math.ceil(length / chunk)
    extra = n_chunks * chunk - length
    if extra:  # zero keys and values add nothing; the extra queries are dropped
        q, k, v = (F.pad(t, (0, 0, 0, extra)) for t in (q, k, v))
    pos = torch.arange(chunk, device=q.device, dtype=q.dtype)
    lg = log_gamma[:, None, None]  # (h, 1, 1)
    inner_decay = torch.exp(lg * (pos + 1)[:, None])  # (h, C, 1): gamma^(n + 1), state -> n
    key_decay = torch.exp(lg * (chunk - 1 - pos)[:, None])  # (h, C, 1): m -> chunk end
    chunk_decay = torch.exp(lg * chunk)  # (h, 1, 1)
    d = _decay_matrix(log_gamma, chunk)  # (h, C, C)
    state = q.new_zeros(*q.shape[:-2], k.shape[-1], v.shape[-1])  # (B, h, hd, hd)
    # unbind, not slices: a slice's backward writes a full-length gradient (O(L) per chunk)
    qs, ks, vs = (t.unflatten(-2, (n_chunks, chunk)).unbind(-3) for t in (q, k, v))
    out = []
    for qj, kj, vj in zip(qs, ks, vs, strict=True):  # (B, h, C, hd) each
        inner = ((qj @ kj.transpose(-1, -2)) * d) @ vj
        out.append(inner + (qj * inner_decay) @ state)
        state = chunk_decay * state + (kj * key_decay).transpose(-1, -2) @ vj
    return torch.cat(out, dim=-2)[..., :length, :]


def retention(
    q: Tensor, k: Tensor, v: Tensor, log_gamma: Tensor, *, form: Form = "chunkwise",
    chunk: int = 64,
) -> Tensor:  # fmt: skip
    """Retention in the given ``form`` (all three agree; see the module docstring)."""
    if form == "chunkwise":
        return retention_chunkwise(q, k, v, log_gamma, chunk)
    forms = {"parallel": retention_parallel, "recurrent": retention_recurrent}
    if form not in forms:
        raise BiozooError(f"unknown retention form {form!r}; use chunkwise, parallel or recurrent")
    return forms[form](q, k, v, log_gamma)


class MultiScaleRetention(nn.Module):
    """Multi-scale retention: rotated ``q, k``, per-head decays, group norm, swish gate.

    Args:
        dim: token width; a multiple of ``heads``, with an even head width.
        heads: number of heads (each its own decay).
        chunk: chunk length of the chunkwise form.

    Shape:
        - x: ``[B, L, dim]``; mask: ``[B, L]`` bool (True: a real position) or None;
          output ``[B, L, dim]`` (values at padded positions are meaningless).
    """

    def __init__(self, dim: int, heads: int = 4, *, chunk: int = 64) -> None:
        super().__init__()
        self.dim, self.heads, self.chunk = dim, heads, chunk
        self.head_dim = head_dim(dim, heads, "retention width")
        self.qkv_proj = nn.Linear(dim, 3 * dim, bias=False)
        self.gate_proj = nn.Linear(dim, dim, bias=False)
        self.out_proj = nn.Linear(dim, dim, bias=False)
        self.norm_weight = nn.Parameter(torch.empty(dim))
        self.rotary = RotaryEmbedding(self.head_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.qkv_proj, self.gate_proj, self.out_proj):
            lin.reset_parameters()
        nn.init.ones_(self.norm_weight)

    def forward(self, x: Tensor, mask: Tensor | None = None, *, form: Form = "chunkwise") -> Tensor:
        b, length, _ = x.shape
        qkv = self.qkv_proj(x).view(b, length, 3, self.heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, h, L, hd) each
        q, k = self.rotary(q), self.rotary(k) * self.head_dim**-0.5
        if mask is not None:
            keep = mask[:, None, :, None].to(x.dtype)  # (B, 1, L, 1)
            k, v = k * keep, v * keep
        log_gamma = torch.log1p(-(2.0 ** (-5.0 - torch.arange(self.heads, device=x.device))))
        o = retention(q, k, v, log_gamma.to(x.dtype), form=form, chunk=self.chunk)
        o = F.layer_norm(o, (self.head_dim,), eps=1e-5)  # group norm, one group per head
        o = o.transpose(1, 2).reshape(b, length, self.dim) * self.norm_weight
        return self.out_proj(F.silu(self.gate_proj(x)) * o)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}, chunk={self.chunk}"


class RetentionLayer(nn.Module):
    """``x + MSR(LN(x))`` then ``x + FFN(LN(x))``; bidirectional: the mean of a forward and a
    reversed retention.

    Args:
        dim: token width.
        heads: retention heads.
        hidden: width of the position-wise MLP.
        bidirectional: add a second retention reading the sequence backwards.
        dropout: dropout on both residual branches.
        chunk: chunk length of the chunkwise form.

    Shape:
        - x: ``[B, L, dim]``; mask: ``[B, L]`` bool or None; output ``[B, L, dim]``.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 4,
        *,
        hidden: int | None = None,
        bidirectional: bool = False,
        dropout: float = 0.0,
        chunk: int = 64,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.forward_mixer = MultiScaleRetention(dim, heads, chunk=chunk)
        self.backward_mixer = (
            MultiScaleRetention(dim, heads, chunk=chunk) if bidirectional else None
        )
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, hidden or 2 * dim, dropout=dropout)
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        for module in (self.norm1, self.forward_mixer, self.norm2, self.ffn):
            module.reset_parameters()
        if self.backward_mixer is not None:
            self.backward_mixer.reset_parameters()

    def forward(self, x: Tensor, mask: Tensor | None = None, *, form: Form = "chunkwise") -> Tensor:
        h = self.norm1(x)
        out = self.forward_mixer(h, mask, form=form)
        if self.backward_mixer is not None:
            rev_mask = None if mask is None else mask.flip(1)
            out = 0.5 * (out + self.backward_mixer(h.flip(1), rev_mask, form=form).flip(1))
        x = x + self.drop(out)
        return x + self.drop(self.ffn(self.norm2(x)))
