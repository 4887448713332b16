"""PeriodicEmbedding (PLR): shape, the formula, and each feature embedded on its own."""

from __future__ import annotations

import math

import torch

from biozoo.layers.periodic import PeriodicEmbedding


def test_matches_the_formula_per_feature():
    torch.manual_seed(0)
    emb = PeriodicEmbedding(3, frequencies=2, dim=4, sigma=1.0)
    x = torch.randn(5, 3)
    z = emb(x)
    assert z.shape == (5, 12) and emb.out_dim == 12
    j = 1
    angle = 2 * math.pi * x[:, j : j + 1] * emb.freq[j]  # (B, k)
    v = torch.cat([torch.cos(angle), torch.sin(angle)], dim=1)
    expected = torch.relu(v @ emb.weight[j] + emb.bias[j])
    assert torch.allclose(z[:, 4 * j : 4 * (j + 1)], expected, atol=1e-6)


def test_a_feature_changes_only_its_own_embedding():
    torch.manual_seed(0)
    emb = PeriodicEmbedding(4, frequencies=3, dim=2)
    x = torch.randn(2, 4)
    y = x.clone()
    y[:, 2] += 1.0
    changed = (emb(x) != emb(y)).any(dim=0).view(4, 2).any(dim=1)
    assert changed.tolist() == [False, False, True, False]


def test_frequencies_start_at_the_given_spread():
    torch.manual_seed(0)
    emb = PeriodicEmbedding(200, frequencies=50, dim=1, sigma=0.1)
    assert abs(emb.freq.std().item() - 0.1) < 0.005
