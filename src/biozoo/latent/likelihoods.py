"""Reconstruction likelihoods: how a decoder's output scores a modality's table.

- ``gaussian``: the decoder gives the mean of the transformed (standardised) table; the loss
  is half the squared error (unit variance), the metric the mean squared error.
- ``nb``: raw counts, as scVI models them (Lopez et al. 2018,
  https://doi.org/10.1038/s41592-018-0229-2): the decoder gives each gene's share of the cell's
  library (a softmax), the mean is that share times the observed library size, and each gene
  has a learned inverse dispersion. The encoder reads ``log1p`` of the counts. The metric is
  the negative binomial deviance per value.

Each likelihood is an ``nn.Module`` built with the number of features; it says what the
encoder reads (:meth:`encoder_input`), the per-sample loss (:meth:`loss`) and the per-sample
reconstruction metric (:meth:`score`, named :attr:`metric`).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from biozoo.layers.latent import gaussian_nll, nb_log_likelihood
from biozoo.registry import Registry

__all__ = ["LIKELIHOODS", "GaussianLikelihood", "NegativeBinomialLikelihood", "nb_deviance"]

LIKELIHOODS: Registry[type[nn.Module]] = Registry("likelihood")


@LIKELIHOODS.register("gaussian")
class GaussianLikelihood(nn.Module):
    """Unit-variance Gaussian on the transformed table.

    Shape:
        - x, decoded: ``[B, p]``; loss and score ``[B]``.
    """

    metric: ClassVar[str] = "recon_mse"

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.n_features = n_features

    def encoder_input(self, x: Tensor) -> Tensor:
        return x

    def loss(self, x: Tensor, decoded: Tensor) -> Tensor:
        return gaussian_nll(x, decoded)

    def score(self, x: Tensor, decoded: Tensor) -> Tensor:
        return (x - decoded).pow(2).mean(dim=-1)


@LIKELIHOODS.register("nb")
class NegativeBinomialLikelihood(nn.Module):
    """Negative binomial on raw counts: mean = softmax(decoded) * library size.

    The table must reach the model untransformed (``transforms: {scale: false}``, no
    ``log1p``), so ``x`` holds the counts.

    Shape:
        - x, decoded: ``[B, p]``; loss and score ``[B]``.
    """

    metric: ClassVar[str] = "recon_nb_deviance"

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.n_features = n_features
        self.log_theta = nn.Parameter(torch.zeros(n_features))  # per-gene inverse dispersion

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.log_theta)

    def encoder_input(self, x: Tensor) -> Tensor:
        return torch.log1p(x.clamp_min(0.0))

    def mean(self, x: Tensor, decoded: Tensor) -> Tensor:
        """The NB mean: each gene's decoded share of the observed library ``[B, p]``."""
        library = x.clamp_min(0.0).sum(dim=-1, keepdim=True)
        return torch.softmax(decoded, dim=-1) * library

    def loss(self, x: Tensor, decoded: Tensor) -> Tensor:
        theta = self.log_theta.exp()
        return -nb_log_likelihood(x.clamp_min(0.0), self.mean(x, decoded), theta).sum(dim=-1)

    def score(self, x: Tensor, decoded: Tensor) -> Tensor:
        theta = self.log_theta.exp()
        return nb_deviance(x.clamp_min(0.0), self.mean(x, decoded), theta).mean(dim=-1)


def nb_deviance(x: Tensor, mu: Tensor, theta: Tensor) -> Tensor:
    r"""The negative binomial deviance of each value,
    :math:`2[x\log(x/\mu) - (x + \theta)\log((x + \theta)/(\mu + \theta))]` (0 at a perfect
    fit). ``[B, p]``."""
    eps = 1e-8
    first = torch.where(x > 0, x * torch.log((x + eps) / (mu + eps)), torch.zeros_like(x))
    return 2.0 * (first - (x + theta) * torch.log((x + theta) / (mu + theta + eps)))
