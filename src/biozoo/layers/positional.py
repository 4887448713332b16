"""Positional encodings: learned, sinusoidal (added to tokens) and rotary (applied to q, k).

- Sinusoidal: Vaswani et al. 2017, "Attention Is All You Need", https://arxiv.org/abs/1706.03762
- Age (continuous): the sinusoids of a real-valued age instead of an integer position, then a
  linear map, as Delphi-2M encodes the age of each life event (Shmatko et al. 2025,
  https://doi.org/10.1038/s41586-025-09529-3).
- Rotary (RoPE): Su et al. 2021, "RoFormer: Enhanced Transformer with Rotary Position
  Embedding", https://arxiv.org/abs/2104.09864. Rotating query and key of position ``m`` by
  the angles ``m * theta_i`` makes their dot product depend on the offset ``n - m`` only.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from biozoo.errors import BiozooError

__all__ = [
    "AgeEncoding",
    "LearnedPositionalEncoding",
    "RotaryEmbedding",
    "SinusoidalPositionalEncoding",
    "additive_positional",
    "sinusoid",
    "sinusoidal_2d",
]


def sinusoid(values: Tensor, dim: int, base: float = 10000.0) -> Tensor:
    """``sin``/``cos`` of ``values * base^(-2i/dim)``, interleaved: ``[..., dim]``.

    Args:
        values: ``[...]`` positions or any real values (float32 angles are computed).
        dim: output width (even).
        base: wavelength base: periods run from ``2 pi`` to ``2 pi base`` units of ``values``.
    """
    freq = torch.exp(
        torch.arange(0, dim, 2, device=values.device, dtype=torch.float32) * (-math.log(base) / dim)
    )
    angles = values.to(torch.float32).unsqueeze(-1) * freq  # (..., dim / 2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # (..., dim)


class SinusoidalPositionalEncoding(nn.Module):
    """Adds ``sin``/``cos`` of ``position * base^(-2i/dim)``; no parameters, no length limit.

    Args:
        dim: token width (even).
        base: wavelength base.

    Shape:
        - h: ``[B, L, dim]``; output ``[B, L, dim]``.
    """

    def __init__(self, dim: int, *, base: float = 10000.0) -> None:
        super().__init__()
        if dim % 2:
            raise BiozooError(f"sinusoidal positional encoding needs an even width, got {dim}")
        self.dim, self.base = dim, base

    def reset_parameters(self) -> None:
        """Nothing to reset: the encoding has no parameters."""

    def encoding(self, length: int, *, device=None, dtype=None) -> Tensor:
        """The ``[length, dim]`` table."""
        pos = torch.arange(length, device=device, dtype=torch.float32)
        pe = sinusoid(pos, self.dim, self.base)  # (L, dim) interleaved
        return pe.to(dtype) if dtype is not None else pe

    def forward(self, h: Tensor) -> Tensor:
        return h + self.encoding(h.shape[-2], device=h.device, dtype=h.dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, base={self.base}"


def sinusoidal_2d(rows: int, cols: int, dim: int, *, base: float = 10000.0) -> Tensor:
    """A ``[rows * cols, dim]`` table for a grid in row-major order: the first half of the
    channels is the 1-D sinusoidal encoding of the row, the second half that of the column.

    As in the 2-D variant of MAE (He et al. 2022, https://arxiv.org/abs/2111.06377).

    Args:
        rows: grid rows.
        cols: grid columns.
        dim: token width (a multiple of 4).
        base: wavelength base.
    """
    if dim % 4:
        raise BiozooError(f"2-D sinusoidal positions need a width divisible by 4, got {dim}")
    half = SinusoidalPositionalEncoding(dim // 2, base=base)
    row = half.encoding(rows).repeat_interleave(cols, dim=0)  # (rows*cols, dim/2)
    col = half.encoding(cols).repeat(rows, 1)  # (rows*cols, dim/2)
    return torch.cat([row, col], dim=1)


class AgeEncoding(nn.Module):
    """A linear map of the sinusoids of each token's age (not its position).

    Periods run geometrically from ``min_period`` to ``min_period * base`` (years): the
    encoding tells apart ages a fraction of ``min_period`` apart and stays unambiguous over a
    lifetime. Two events at the same age get the same encoding whatever their positions.

    Args:
        dim: token width (even).
        min_period: shortest period, in the ages' unit (years).
        base: ratio of the longest to the shortest period.

    Shape:
        - ages: ``[B, L]`` float; output ``[B, L, dim]``.
    """

    def __init__(self, dim: int, *, min_period: float = 1.0, base: float = 1000.0) -> None:
        super().__init__()
        if dim % 2:
            raise BiozooError(f"age encoding needs an even width, got {dim}")
        self.dim, self.min_period, self.base = dim, min_period, base
        self.linear = nn.Linear(dim, dim)

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def forward(self, ages: Tensor) -> Tensor:
        return self.linear(sinusoid(ages * (2 * math.pi / self.min_period), self.dim, self.base))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, min_period={self.min_period}, base={self.base}"


class LearnedPositionalEncoding(nn.Module):
    """A learned vector per position, added to the tokens.

    Args:
        max_len: longest sequence it can encode.
        dim: token width.

    Shape:
        - h: ``[B, L, dim]`` with ``L <= max_len``; output ``[B, L, dim]``.
    """

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.weight = nn.Parameter(torch.empty(max_len, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, h: Tensor) -> Tensor:
        length = h.shape[-2]
        if length > self.max_len:
            raise BiozooError(
                f"learned positional encoding holds {self.max_len} positions but the input has "
                f"{length}; raise max_len or use 'sinusoidal' or 'rotary'"
            )
        return h + self.weight[:length]

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, dim={self.weight.shape[1]}"


class RotaryEmbedding(nn.Module):
    """Rotates pairs of channels ``(i, i + dim/2)`` by ``position * base^(-2i/dim)``.

    Args:
        dim: width of the vectors it rotates (the attention head width; even).
        base: wavelength base.

    Shape:
        - x: ``[..., L, dim]``; positions: ``[L]`` or broadcastable to ``x.shape[:-1]``
          (default ``0 .. L-1``); output: same shape as ``x``, same norms.
    """

    def __init__(self, dim: int, *, base: float = 10000.0) -> None:
        super().__init__()
        if dim % 2:
            raise BiozooError(f"rotary embedding needs an even head width, got {dim}")
        self.dim, self.base = dim, base

    def reset_parameters(self) -> None:
        """Nothing to reset: the rotation has no parameters."""

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        if positions is None:
            positions = torch.arange(x.shape[-2], device=x.device)
        half = self.dim // 2
        work = torch.promote_types(x.dtype, torch.float32)  # angles in at least float32
        freq = self.base ** (-torch.arange(half, device=x.device, dtype=work) / half)
        angles = positions.to(work).unsqueeze(-1) * freq  # (..., L, half)
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, base={self.base}"


def additive_positional(
    kind: Literal["learned", "sinusoidal", "rotary", "none"], dim: int, max_len: int
) -> nn.Module | None:
    """The encoding added to the tokens for ``kind`` (None for ``rotary`` and ``none``).

    Args:
        kind: which encoding.
        dim: token width.
        max_len: longest sequence (used by ``learned``).
    """
    if kind == "learned":
        return LearnedPositionalEncoding(max_len, dim)
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding(dim)
    if kind in ("rotary", "none"):
        return None
    raise BiozooError(
        f"unknown positional encoding {kind!r}; use learned, sinusoidal, rotary or none"
    )
