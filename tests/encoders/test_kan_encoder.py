"""The ``kan`` encoder: contract, mask, stacked members under vmap, the vmap-safe aux loss."""

from __future__ import annotations

import inspect

import torch
from torch import Tensor, nn

import biozoo.encoders.kan  # noqa: F401  (registers "kan" until encoders/__init__ imports it)
from biozoo.config import ModelConfig
from biozoo.data.batch import FoldData
from biozoo.data.spec import PartSpec
from biozoo.encoders import ENCODERS
from biozoo.heads import BinaryHead
from biozoo.inputs import TableInput
from biozoo.model import build_model
from biozoo.train.ensemble import StackedEnsemble
from biozoo.train.plan import fit_ensemble, predict_members

IN_DIM, BATCH = 6, 4


def _encoder(**options: object) -> nn.Module:
    return ENCODERS.get("kan")(TableInput(IN_DIM), **{"hidden": [5], "out_dim": 3, **options})


def test_registered_for_tables_and_stackable():
    cls = ENCODERS.get("kan")
    assert cls.reads == (TableInput,) and cls.stackable is True
    params = inspect.signature(cls).parameters
    for field, info in cls.Config.model_fields.items():
        default = info.get_default(call_default_factory=True)
        assert field in params
        assert (list(params[field].default) if field == "hidden" else params[field].default) == (
            default
        )


def test_options_shape_the_network():
    enc = _encoder(hidden=[7, 4], out_dim=2, grid=6, order=2, grid_bound=2.0)
    widths = [(m.in_features, m.out_features) for m in enc.layers]
    assert widths == [(IN_DIM, 7), (7, 4), (4, 2)]
    assert enc.layers[0].spline_weight.shape == (7, IN_DIM, 8)
    assert enc.layers[1].knots[0, 2].item() == -2.0  # core grid starts at -grid_bound
    assert enc(torch.randn(BATCH, IN_DIM)).shape == (BATCH, 2)


def test_absent_samples_embed_to_zero_in_training_mode_too():
    torch.manual_seed(0)
    enc = _encoder(dropout=0.3).train()
    mask = torch.tensor([True, False, True, False])
    z = enc(torch.randn(BATCH, IN_DIM), mask)
    assert torch.all(z[~mask] == 0) and torch.all(z[mask].abs().sum(-1) > 0)


def test_aux_loss_is_the_scaled_parameter_only_penalty():
    assert _encoder().aux_loss() is None
    enc = _encoder(reg=0.5)
    want = 0.5 * sum(layer.regularization_loss() for layer in enc.layers)
    aux = enc.aux_loss()
    assert torch.allclose(aux, want)
    aux.backward()
    assert all(layer.spline_weight.grad is not None for layer in enc.layers)


class _WithAux(nn.Module):
    """An encoder plus its aux loss in one forward, the way a stacked model would call it."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = _encoder(reg=0.1, dropout=0.0)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        return self.enc(x, mask), self.enc.aux_loss()


def test_stacked_members_under_vmap_match_single_encoders():
    seeds = [3, 4, 5]
    ens = StackedEnsemble(_WithAux, seeds).eval()
    x = torch.randn(3, BATCH, IN_DIM)
    mask = torch.tensor([True, True, False, True]).expand(3, BATCH)
    z, aux = ens(x, mask)
    assert z.shape == (3, BATCH, 3) and aux.shape == (3,)
    for m, seed in enumerate(seeds):
        torch.manual_seed(seed)
        single = _WithAux().eval()
        z1, aux1 = single(x[m], mask[m])
        assert torch.allclose(z[m], z1, atol=1e-5) and torch.allclose(aux[m], aux1, atol=1e-6)
    assert torch.all(z[:, 2] == 0)
    (z.pow(2).sum() + aux.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ens.stacked)


def test_a_stacked_kan_model_learns_in_the_training_loop():
    g = torch.Generator().manual_seed(0)

    def data(n: int) -> FoldData:
        x = torch.randn(n, IN_DIM, generator=g)
        y = (x[:, 0] ** 2 + x[:, 1] > 1).long()  # not linear in x
        return FoldData({"a": x}, {"a": torch.ones(n, dtype=torch.bool)}, y)

    spec = ModelConfig(encoders={"a": PartSpec(name="kan", hidden=[4], out_dim=3, dropout=0.0)})
    ens = StackedEnsemble(lambda: build_model(spec, {"a": TableInput(IN_DIM)}, 1), seeds=[1, 2])
    head = BinaryHead()
    fit, val = data(128), data(64)
    fit_ensemble(
        ens,
        head,
        fit,
        val,
        epochs=12,
        batch_size=32,
        patience=12,
        optimizer="adamw",
        lr=3e-2,
        weight_decay=0.0,
        gradient_clip=1.0,
        seed=0,
    )
    p = predict_members(ens, head, val).mean(0)  # (n, 2)
    acc = (p.argmax(-1) == val.y).float().mean()
    assert acc > 0.85
