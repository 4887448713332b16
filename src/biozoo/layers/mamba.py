"""The Mamba block (selective state space) and its pre-norm residual layer.

Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
https://arxiv.org/abs/2312.00752 (Figure 3). The bidirectional layer runs a second block on
the reversed sequence, as in Vision Mamba (Zhu et al. 2024, https://arxiv.org/abs/2401.09417).

Padding never changes a result: at padded positions the convolution's input is zero and the
scan's step ``dt`` is zero, so the state passes through them unchanged (``exp(0 * A) = 1``,
no input). A reversed right-padded sequence starts with its padding, which then leaves the
state at zero and feeds the convolution the zeros it would see at a sequence start.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biozoo.layers.ssm import selective_scan

__all__ = ["MambaBlock", "MambaLayer"]


class MambaBlock(nn.Module):
    """In-projection, causal depthwise conv, SiLU, selective SSM, gating, out-projection.

    Args:
        d_model: token width.
        d_state: state size ``n`` per channel.
        expand: inner width ``d_inner = expand * d_model``.
        d_conv: width of the causal depthwise convolution.
        dt_rank: rank of the ``dt`` projection; default ``ceil(d_model / 16)``.
        dt_min: smallest initial step size.
        dt_max: largest initial step size.
        scan: ``fast`` or ``reference`` (see :func:`biozoo.layers.ssm.selective_scan`).

    Shape:
        - x: ``[B, L, d_model]``; mask: ``[B, L]`` bool (True: a real position) or None;
          output ``[B, L, d_model]`` (values at padded positions are meaningless).
    """

    def __init__(
        self,
        d_model: int,
        *,
        d_state: int = 16,
        expand: int = 2,
        d_conv: int = 4,
        dt_rank: int | None = None,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        scan: Literal["fast", "reference"] = "fast",
    ) -> None:
        super().__init__()
        self.d_inner = expand * d_model
        self.d_state = d_state
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.dt_min, self.dt_max = dt_min, dt_max
        self.scan = scan
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner)
        self.A_log = nn.Parameter(torch.empty(self.d_inner, d_state))
        self.D = nn.Parameter(torch.empty(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.in_proj, self.x_proj, self.out_proj):
            lin.reset_parameters()
        self.conv1d.reset_parameters()
        std = self.dt_rank**-0.5
        with torch.no_grad():
            nn.init.uniform_(self.dt_proj.weight, -std, std)
            # initial steps log-uniform in [dt_min, dt_max]; the bias is their softplus inverse
            u = torch.rand(self.d_inner)
            dt = torch.exp(u * (math.log(self.dt_max) - math.log(self.dt_min)))
            dt = (dt * self.dt_min).clamp(min=1e-4)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            # S4D-real initialisation: A[d, n] = -(n + 1)
            a = torch.arange(1, self.d_state + 1, dtype=torch.float32)
            self.A_log.copy_(torch.log(a).expand(self.d_inner, -1))
            self.D.fill_(1.0)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        length = x.shape[1]
        xi, z = self.in_proj(x).chunk(2, dim=-1)  # (B, L, d_inner) each
        keep = None if mask is None else mask.unsqueeze(-1).to(x.dtype)
        if keep is not None:
            xi = xi * keep
        xi = self.conv1d(xi.transpose(1, 2))[..., :length].transpose(1, 2).contiguous()  # causal
        xi = F.silu(xi)
        dt, b, c = self.x_proj(xi).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt))  # (B, L, d_inner)
        if keep is not None:
            dt = dt * keep
        A = -torch.exp(self.A_log)  # (d_inner, n)
        y = selective_scan(xi, dt, A, b, c, method=self.scan)
        y = (y + xi * self.D) * F.silu(z)
        return self.out_proj(y)


class MambaLayer(nn.Module):
    """``x + mixer(RMSNorm(x))``; bidirectional: the mean of a forward and a reversed mixer.

    Args:
        d_model: token width.
        bidirectional: add a second block reading the sequence backwards.
        **block_options: keyword options of :class:`MambaBlock`.

    Shape:
        - x: ``[B, L, d_model]``; mask: ``[B, L]`` bool or None; output ``[B, L, d_model]``.
    """

    def __init__(self, d_model: int, *, bidirectional: bool = False, **block_options) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(d_model, eps=1e-5)
        self.forward_mixer = MambaBlock(d_model, **block_options)
        self.backward_mixer = MambaBlock(d_model, **block_options) if bidirectional else None

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        self.forward_mixer.reset_parameters()
        if self.backward_mixer is not None:
            self.backward_mixer.reset_parameters()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        h = self.norm(x)
        out = self.forward_mixer(h, mask)
        if self.backward_mixer is not None:
            rev_mask = None if mask is None else mask.flip(1)
            out = 0.5 * (out + self.backward_mixer(h.flip(1), rev_mask).flip(1))
        return x + out
