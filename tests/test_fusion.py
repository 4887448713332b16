"""Contract of every registered fusion: shapes, masks, gradients, options."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from biozoo.fusion import FUSIONS

DIMS = {"a": 3, "b": 5}
N_OUT = 2


def build(name: str) -> nn.Module:
    torch.manual_seed(0)
    return FUSIONS.get(name)(DIMS, lambda d: nn.Linear(d, N_OUT))


def embeddings(batch: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {m: torch.randn(batch, d, generator=g, requires_grad=True) for m, d in DIMS.items()}


PRESENT = {
    "a": torch.tensor([True, True, False, True]),
    "b": torch.tensor([True, False, True, True]),
}


@pytest.mark.parametrize("name", FUSIONS.names())
def test_outputs_and_view_mask_have_the_head_shapes(name: str) -> None:
    fusion = build(name)
    out, view_mask = fusion(embeddings(), PRESENT)
    batch, k, n_out = out.shape
    assert (batch, n_out) == (4, N_OUT)
    assert k in (1, len(DIMS))
    assert view_mask.shape == (4, k)
    assert set(view_mask.unique().tolist()) <= {0.0, 1.0}
    if k == len(DIMS):  # one view per modality: a missing modality is a masked view
        expected = torch.stack([PRESENT[m] for m in DIMS], dim=1).to(view_mask.dtype)
        assert torch.equal(view_mask, expected)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", FUSIONS.names())
def test_joint_embedding_concatenates_every_module(name: str) -> None:
    fusion = build(name)
    z = embeddings()
    joint = fusion.joint(z)
    assert joint.shape == (4, sum(DIMS.values())) == (4, fusion.out_dim)
    torch.testing.assert_close(joint[:, : DIMS["a"]], z["a"])


@pytest.mark.parametrize("name", FUSIONS.names())
def test_every_parameter_and_every_embedding_gets_a_gradient(name: str) -> None:
    fusion = build(name)
    z = embeddings()
    out, view_mask = fusion(z, PRESENT)
    (out * view_mask.unsqueeze(-1)).sum().backward()
    for pname, p in fusion.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname
    for m, e in z.items():
        assert e.grad is not None and e.grad.abs().sum() > 0, m


@pytest.mark.parametrize("name", FUSIONS.names())
def test_config_takes_its_defaults_and_rejects_unknown_keys(name: str) -> None:
    cls = FUSIONS.get(name)
    cls.Config()
    with pytest.raises(ValidationError):
        cls.Config(not_an_option=1)
