"""The VAE pieces against references: the closed-form KL against Monte Carlo, the negative
binomial against torch.distributions and scipy, and the product of experts."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from torch.distributions import NegativeBinomial, Normal, kl_divergence

from biozoo.latent.likelihoods import nb_deviance
from biozoo.layers.latent import (
    gaussian_kl,
    nb_log_likelihood,
    product_of_experts,
    reparameterize,
)


def test_gaussian_kl_matches_torch_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64)
    logvar = torch.randn(3, 4, generator=g, dtype=torch.float64) * 0.5
    closed = gaussian_kl(mu, logvar)
    q, p = Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(closed, kl_divergence(q, p).sum(-1))
    torch.manual_seed(1)
    z = q.sample((200_000,))  # (S, B, d)
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    assert torch.allclose(closed, mc, atol=0.02)


def test_gaussian_kl_is_zero_at_the_prior():
    assert torch.allclose(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))


def test_reparameterize_draws_from_the_posterior_and_passes_gradients():
    torch.manual_seed(0)
    mu = torch.full((50_000, 1), 2.0, requires_grad=True)
    logvar = torch.full((50_000, 1), np.log(0.25))
    z = reparameterize(mu, logvar)
    assert abs(z.mean().item() - 2.0) < 0.01 and abs(z.std().item() - 0.5) < 0.01
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))


def test_nb_log_likelihood_matches_torch_and_scipy():
    x = torch.tensor([[0.0, 1.0, 5.0, 30.0], [2.0, 0.0, 11.0, 3.0]], dtype=torch.float64)
    mu = torch.tensor([[0.5, 2.0, 4.0, 25.0], [1.0, 0.2, 9.0, 6.0]], dtype=torch.float64)
    theta = torch.tensor([0.7, 3.0, 10.0, 1.5], dtype=torch.float64)
    ours = nb_log_likelihood(x, mu, theta)
    ref = NegativeBinomial(total_count=theta, logits=torch.log(mu / theta)).log_prob(x)
    assert torch.allclose(ours, ref, atol=1e-6)
    # scipy's nbinom(n, p) counts failures before n successes: n = theta, p = theta/(theta+mu)
    th = theta.numpy()[None, :]
    sp = stats.nbinom.logpmf(x.numpy(), th, th / (th + mu.numpy()))
    assert np.allclose(ours.numpy(), sp, atol=1e-6)


def test_nb_deviance_is_zero_at_a_perfect_fit_and_positive_elsewhere():
    x = torch.tensor([[0.0, 3.0, 10.0]])
    theta = torch.tensor([2.0, 2.0, 2.0])
    assert torch.allclose(nb_deviance(x, x, theta), torch.zeros_like(x), atol=1e-5)
    assert (nb_deviance(x, x + 1.0, theta) > 0).all()


def test_product_of_experts_is_the_precision_weighted_gaussian_product():
    mu1, lv1 = torch.tensor([[1.0]]), torch.log(torch.tensor([[0.5]]))
    mu2, lv2 = torch.tensor([[-2.0]]), torch.log(torch.tensor([[2.0]]))
    both = torch.tensor([True])
    mu, logvar = product_of_experts([mu1, mu2], [lv1, lv2], [both, both])
    precision = 1.0 + 2.0 + 0.5  # prior + experts
    assert torch.allclose(logvar.exp(), torch.tensor([[1.0 / precision]]))
    assert torch.allclose(mu, torch.tensor([[(2.0 * 1.0 + 0.5 * -2.0) / precision]]))


def test_product_of_experts_skips_a_missing_modality_and_falls_back_to_the_prior():
    mu1, lv1 = torch.tensor([[1.0], [1.0]]), torch.zeros(2, 1)
    mu2, lv2 = torch.tensor([[50.0], [50.0]]), torch.zeros(2, 1)
    has1, has2 = torch.tensor([True, False]), torch.tensor([False, False])
    mu, logvar = product_of_experts([mu1, mu2], [lv1, lv2], [has1, has2])
    assert torch.allclose(mu, torch.tensor([[0.5], [0.0]]))  # modality 2 adds nothing
    assert torch.allclose(logvar.exp(), torch.tensor([[0.5], [1.0]]))  # none: the prior
