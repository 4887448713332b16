r"""The pieces of a variational autoencoder: Gaussian posteriors, their product, and the
likelihoods a decoder is scored by.

- :func:`gaussian_kl`: :math:`\mathrm{KL}(\mathcal N(\mu, \sigma^2) \,\|\, \mathcal N(0, 1))`
  in closed form, summed over latent dimensions (Kingma & Welling 2014,
  https://arxiv.org/abs/1312.6114, appendix B).
- :func:`product_of_experts`: the joint posterior of several modalities as the
  precision-weighted product of each present modality's Gaussian and a standard-normal prior
  expert (Wu & Goodman 2018, https://arxiv.org/abs/1802.05335), so a sample missing a modality,
  or every modality, still has a posterior.
- :func:`nb_log_likelihood`: the negative binomial of mean :math:`\mu` and inverse dispersion
  :math:`\theta`, as scVI scores raw counts (Lopez et al. 2018,
  https://doi.org/10.1038/s41592-018-0229-2).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "gaussian_kl",
    "gaussian_nll",
    "nb_log_likelihood",
    "product_of_experts",
    "reparameterize",
]

_EPS = 1e-8


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL divergence of ``N(mu, exp(logvar))`` from ``N(0, I)``, per sample.

    Shape:
        - mu, logvar: ``[B, d]``; output ``[B]``.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """A draw ``mu + sigma * eps`` that gradients flow through (``eps ~ N(0, I)``)."""
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()


def product_of_experts(
    mus: list[Tensor], logvars: list[Tensor], present: list[Tensor]
) -> tuple[Tensor, Tensor]:
    """The product of a standard-normal prior and each present modality's Gaussian.

    A product of Gaussians is Gaussian: its precision is the sum of the experts' precisions
    and its mean their precision-weighted mean. A modality a sample lacks adds nothing; a
    sample that lacks every modality gets the prior ``N(0, I)``.

    Args:
        mus: one ``[B, d]`` mean per modality.
        logvars: one ``[B, d]`` log-variance per modality.
        present: one ``[B]`` bool per modality.

    Returns:
        The joint mean and log-variance, ``[B, d]`` each.
    """
    precision = torch.ones_like(mus[0])  # the prior expert: mean 0, precision 1
    weighted = torch.zeros_like(mus[0])
    for mu, logvar, has in zip(mus, logvars, present, strict=True):
        p = torch.exp(-logvar) * has.unsqueeze(-1).to(mu.dtype)  # (B, d)
        precision = precision + p
        weighted = weighted + p * mu
    return weighted / precision, -torch.log(precision)


def gaussian_nll(x: Tensor, mean: Tensor) -> Tensor:
    """Half the squared error summed over features: the Gaussian negative log-likelihood of
    unit variance, up to a constant. ``[B, p] -> [B]``."""
    return 0.5 * (x - mean).pow(2).sum(dim=-1)


def nb_log_likelihood(x: Tensor, mu: Tensor, theta: Tensor) -> Tensor:
    r"""Log-probability of counts ``x`` under NB(mean ``mu``, inverse dispersion ``theta``).

    .. math::
        \log\Gamma(x + \theta) - \log\Gamma(\theta) - \log\Gamma(x + 1)
        + \theta \log\frac{\theta}{\theta + \mu} + x \log\frac{\mu}{\theta + \mu}

    The variance is :math:`\mu + \mu^2 / \theta`; it equals torch's
    ``NegativeBinomial(total_count=theta, logits=log(mu / theta))``.

    Shape:
        - x, mu: ``[B, p]``; theta: ``[p]`` or ``[B, p]``; output ``[B, p]``.
    """
    log_theta_mu = torch.log(theta + mu + _EPS)
    return (
        torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1.0)
        + theta * (torch.log(theta + _EPS) - log_theta_mu)
        + x * (torch.log(mu + _EPS) - log_theta_mu)
    )
