"""Gradient noise anneals as Neelakantan et al. specify; a diverged loss stops with a hint."""

from __future__ import annotations

import pytest
import torch

from biozoo.errors import BiozooError
from biozoo.train.stability import GradientNoise, check_finite

# create_graph=True warns about a parameter-gradient reference cycle: expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph")


def _zero_grad_param(n: int) -> torch.nn.Parameter:
    p = torch.nn.Parameter(torch.zeros(n))
    p.grad = torch.zeros(n)
    return p


@pytest.mark.parametrize("step", [0, 9, 999])
def test_noise_variance_is_eta_over_one_plus_t_to_the_gamma(step):
    eta, gamma = 0.3, 0.55
    noise = GradientNoise(eta, gamma, seed=1)
    p = _zero_grad_param(200_000)
    noise([p], step=step)
    expected = eta / (1 + step) ** gamma
    assert noise.variance(step) == pytest.approx(expected)
    assert p.grad.var().item() == pytest.approx(expected, rel=0.02)
    assert abs(p.grad.mean().item()) < 4 * (expected / 200_000) ** 0.5


def test_noise_anneals_and_adds_to_the_gradient():
    noise = GradientNoise(1.0, seed=0)
    assert noise.std(0) > noise.std(10) > noise.std(1000)
    p = torch.nn.Parameter(torch.zeros(50_000))
    p.grad = torch.full((50_000,), 3.0)
    noise([p], step=0)
    assert p.grad.mean().item() == pytest.approx(3.0, abs=0.02)


def test_noise_is_reproducible_and_leaves_the_global_generator_alone():
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    draws = []
    for seed in (7, 7, 8):
        p = _zero_grad_param(10)
        GradientNoise(0.01, seed=seed)([p], step=3)
        draws.append(p.grad.clone())
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])
    assert torch.equal(torch.random.get_rng_state(), before)


def test_noise_skips_missing_gradients_and_keeps_a_second_order_graph():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    unused = torch.nn.Parameter(torch.zeros(3))
    (w**3).sum().backward(create_graph=True)
    GradientNoise(0.01, seed=0)([w, unused], step=0)
    assert unused.grad is None
    assert w.grad.requires_grad  # a Hessian-vector product still works through it
    (hv,) = torch.autograd.grad(w.grad, w, grad_outputs=torch.ones(2))
    assert torch.allclose(hv, 6 * w.detach())


def test_bad_noise_settings_are_errors():
    with pytest.raises(BiozooError, match="eta must be positive"):
        GradientNoise(0.0)
    with pytest.raises(BiozooError, match="gamma"):
        GradientNoise(0.1, gamma=-1.0)


def test_check_finite_passes_finite_losses():
    check_finite(torch.tensor(1.5), epoch=0, step=0)
    check_finite(torch.tensor([1.0, 2.0]), epoch=0, step=0)


@pytest.mark.parametrize(
    "loss, word", [(torch.tensor(float("nan")), "NaN"), (torch.tensor(float("inf")), "infinite")]
)
def test_check_finite_names_epoch_step_and_what_to_try(loss, word):
    with pytest.raises(BiozooError, match=f"became {word} at epoch 3, step 41") as err:
        check_finite(loss, epoch=3, step=41)
    assert "lower training.lr" in str(err.value) and "gradient_clip" in str(err.value)


def test_check_finite_names_the_members():
    losses = torch.tensor([0.5, float("nan"), 0.7, float("inf")])
    with pytest.raises(BiozooError, match="member\\(s\\) 1, 3 at epoch 0, step 2"):
        check_finite(losses, epoch=0, step=2)
