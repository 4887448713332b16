"""Activations: known values of PolyCom's PolyReLU / PolyNorm, the SwiGLU gate, vmap."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from biozoo.activations import ACTIVATIONS
from biozoo.errors import BiozooError
from biozoo.layers.activations import PolyNorm, PolyReLU, SwiGLU, width_factor
from biozoo.layers.mlp import MLP


def test_existing_names_still_work():
    for name in ("relu", "gelu", "silu", "tanh", "elu", "leaky_relu", "selu"):
        assert isinstance(ACTIVATIONS.get(name)(), nn.Module)
    assert ACTIVATIONS.get("relu") is nn.ReLU


def test_unknown_activation_suggests_the_close_name():
    with pytest.raises(BiozooError, match="did you mean 'polyrelu'"):
        ACTIVATIONS.get("polyrelu3")


def test_polyrelu_starts_at_the_papers_initialisation():
    act = PolyReLU()
    assert act.order == 3
    assert torch.equal(act.weight.data, torch.full((3,), 1 / 3)) and act.bias.item() == 0.0
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0])
    expected = torch.tensor([0.0, 0.0, 1.0, (2 + 4 + 8) / 3])
    torch.testing.assert_close(act(x), expected)


def test_polyrelu_is_the_polynomial_of_relu():
    act = PolyReLU(order=3)
    with torch.no_grad():
        act.weight.copy_(torch.tensor([1.0, -2.0, 3.0]))
        act.bias.fill_(0.5)
    x = torch.tensor([2.0, -3.0])
    torch.testing.assert_close(act(x), torch.tensor([0.5 + 2 - 8 + 24, 0.5]))


def test_polynorm_known_value():
    act = PolyNorm()
    x = torch.tensor([[1.0, 2.0]])

    def norm(u):
        return u / torch.sqrt((u**2).mean() + 1e-6)

    expected = (norm(x) + norm(x**2) + norm(x**3)) / 3
    torch.testing.assert_close(act(x), expected)
    # the normalisation is over the feature dimension: scaling x leaves norm(x^i) unchanged
    torch.testing.assert_close(act(5 * x), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cls", [PolyReLU, PolyNorm])
def test_polynomial_shapes_and_gradients(cls):
    act = cls(order=4)
    x = torch.randn(3, 5, 6, requires_grad=True)
    y = act(x)
    assert y.shape == x.shape
    y.pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert act.weight.grad.shape == (4,) and act.weight.grad.abs().sum() > 0
    assert act.bias.grad is not None


def test_polynomial_order_must_be_positive():
    with pytest.raises(BiozooError, match="order >= 1"):
        PolyReLU(order=0)


def test_polynomial_reset_restores_the_initialisation():
    act = PolyNorm(order=2)
    with torch.no_grad():
        act.weight.fill_(7.0)
    act.reset_parameters()
    assert torch.equal(act.weight.data, torch.full((2,), 0.5))


def test_swiglu_is_shazeers_gated_unit():
    """Linear(d, 2h) -> SwiGLU -> Linear(h, d) is FFN_SwiGLU = (Swish(xW) * xV) W2."""
    torch.manual_seed(0)
    d, h = 6, 4
    up, down = nn.Linear(d, 2 * h, bias=False), nn.Linear(h, d, bias=False)
    x = torch.randn(5, d)
    w, v = up.weight[:h], up.weight[h:]
    expected = (F.silu(x @ w.T) * (x @ v.T)) @ down.weight.T
    torch.testing.assert_close(down(SwiGLU()(up(x))), expected)
    assert width_factor(SwiGLU) == 2 and width_factor(nn.ReLU) == 1


def test_swiglu_needs_an_even_width():
    with pytest.raises(BiozooError, match="even number"):
        SwiGLU()(torch.randn(2, 5))


def _block(name: str) -> nn.Module:
    act = ACTIVATIONS.get(name)
    return nn.Sequential(nn.Linear(4, 6 * width_factor(act)), act(), nn.Linear(6, 2))


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_every_activation_runs_under_vmap_like_a_stacked_ensemble(name):
    torch.manual_seed(0)
    members = [_block(name) for _ in range(3)]
    for i, m in enumerate(members):  # members differ in every parameter
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.1 * (i + 1) * torch.randn_like(p))
    params, buffers = stack_module_state(members)
    template = copy.deepcopy(members[0]).to("meta")
    x = torch.randn(3, 5, 4)

    def one(p, b, xi):
        return functional_call(template, (p, b), (xi,))

    out = vmap(one, randomness="different")(params, buffers, x)
    loop = torch.stack([m(x[i]) for i, m in enumerate(members)])
    torch.testing.assert_close(out, loop, rtol=1e-5, atol=1e-6)


def test_mlp_with_a_gated_activation():
    mlp = MLP(4, [6, 5], 2, activation=SwiGLU)
    linear = [m for m in mlp.net if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linear] == [12, 10, 2]
    assert mlp(torch.randn(3, 4)).shape == (3, 2)
