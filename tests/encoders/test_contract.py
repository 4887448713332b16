"""Every registered encoder honours the encoder contract."""

import pytest
import torch

from biozoo.encoders import ENCODERS

IN_DIM, BATCH = 12, 4


def build(name):
    cls = ENCODERS.get(name)
    return cls(IN_DIM, **cls.Config().model_dump())


@pytest.mark.parametrize("name", ENCODERS.names())
def test_shape_no_nan_and_out_dim(name):
    torch.manual_seed(0)
    enc = build(name)
    z = enc(torch.randn(BATCH, IN_DIM))
    assert z.shape == (BATCH, enc.out_dim)
    assert torch.isfinite(z).all()


@pytest.mark.parametrize("name", ENCODERS.names())
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    enc = build(name)
    x = torch.randn(BATCH, IN_DIM, requires_grad=True)
    enc(x).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", ENCODERS.names())
def test_absent_samples_embed_to_zero(name):
    enc = build(name).eval()
    mask = torch.tensor([True, False, True, False])
    z = enc(torch.randn(BATCH, IN_DIM), mask)
    assert torch.all(z[~mask] == 0)
    assert torch.any(z[mask] != 0)


@pytest.mark.parametrize("name", ENCODERS.names())
def test_reset_parameters_runs_and_is_deterministic(name):
    enc = build(name)
    torch.manual_seed(1)
    enc.reset_parameters()
    a = [p.clone() for p in enc.parameters()]
    torch.manual_seed(1)
    enc.reset_parameters()
    for x, y in zip(a, enc.parameters(), strict=True):
        assert torch.equal(x, y)


def test_mlp_options_shape_the_network():
    enc = ENCODERS.get("mlp")(IN_DIM, hidden=[8, 6], out_dim=3, norm="layer", dropout=0.0)
    kinds = [type(m).__name__ for m in enc.mlp.net]
    assert kinds == ["Linear", "LayerNorm", "ReLU", "Linear", "LayerNorm", "ReLU", "Linear"]
    assert enc.out_dim == 3
