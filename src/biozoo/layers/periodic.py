r"""Periodic numerical embeddings with a per-feature linear layer and ReLU (PLR).

Gorishniy, Rubachev & Babenko, "On Embeddings for Numerical Features in Tabular Deep
Learning", NeurIPS 2022 (https://arxiv.org/abs/2203.05556); RealMLP (Holzmüller et al. 2024,
https://arxiv.org/abs/2407.04491) uses a variant by default. Each feature ``x_j`` becomes

.. math::
    e_j = \mathrm{ReLU}\big(W_j [\cos(2\pi c_j x_j), \sin(2\pi c_j x_j)] + b_j\big)

with ``k`` trainable frequencies ``c_j ~ N(0, sigma^2)`` and a linear map ``W_j`` of its
own per feature; the embeddings of all features are concatenated.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["PeriodicEmbedding"]


class PeriodicEmbedding(nn.Module):
    """Periodic -> linear -> ReLU, per feature, flattened.

    Args:
        n_features: number of numerical features ``p``.
        frequencies: trainable frequencies ``k`` per feature.
        dim: embedding size ``d`` per feature.
        sigma: standard deviation of the frequencies' initialisation.

    Shape:
        - input ``[B, p]``, output ``[B, p * d]``.
    """

    def __init__(self, n_features: int, frequencies: int = 16, dim: int = 4, sigma: float = 0.1):
        super().__init__()
        self.n_features, self.frequencies, self.dim, self.sigma = (
            n_features,
            frequencies,
            dim,
            sigma,
        )
        self.freq = nn.Parameter(torch.empty(n_features, frequencies))
        self.weight = nn.Parameter(torch.empty(n_features, 2 * frequencies, dim))
        self.bias = nn.Parameter(torch.empty(n_features, dim))
        self.reset_parameters()

    @property
    def out_dim(self) -> int:
        return self.n_features * self.dim

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.n_features}, frequencies={self.frequencies}, "
            f"dim={self.dim}, sigma={self.sigma})"
        )

    def reset_parameters(self) -> None:
        nn.init.normal_(self.freq, 0.0, self.sigma)
        bound = 1.0 / math.sqrt(2 * self.frequencies)  # nn.Linear's fan-in bound
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        angle = 2 * math.pi * x.unsqueeze(-1) * self.freq  # (B, p, k)
        periodic = torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)  # (B, p, 2k)
        e = torch.einsum("bpi,pid->bpd", periodic, self.weight) + self.bias  # (B, p, d)
        return torch.relu(e).flatten(1)  # (B, p * d)
