"""The per-member loop ensemble: same interface and numbers as the stacked one."""

from __future__ import annotations

import torch
from torch import nn

from biozoo.config import ModelConfig
from biozoo.data.batch import FoldData
from biozoo.data.spec import PartSpec
from biozoo.heads import BinaryHead
from biozoo.inputs import TableInput
from biozoo.model import build_model
from biozoo.train.ensemble import LoopEnsemble, StackedEnsemble, make_ensemble
from biozoo.train.plan import EnsemblePlan, fit_ensemble, predict_members

SPEC = ModelConfig(default_encoder=PartSpec(name="mlp", hidden=[8], out_dim=4, dropout=0.0))
IN_DIMS = {"a": 5, "b": 3}


def _data(n: int = 24, seed: int = 0) -> FoldData:
    g = torch.Generator().manual_seed(seed)
    x = {k: torch.randn(n, d, generator=g) for k, d in IN_DIMS.items()}
    y = (x["a"][:, 0] + x["b"][:, 1] > 0).long()
    return FoldData(x, {k: torch.ones(n, dtype=torch.bool) for k in IN_DIMS}, y)


def _make():
    return build_model(SPEC, {k: TableInput(d) for k, d in IN_DIMS.items()}, 1)


def test_loop_and_stacked_agree_on_the_same_weights():
    stacked = StackedEnsemble(_make, [1, 2, 3]).eval()
    loop = LoopEnsemble(_make, [1, 2, 3]).eval()
    loop.load_stacked_state(stacked.stacked_state())
    head = BinaryHead()
    data = _data()
    torch.testing.assert_close(
        predict_members(stacked, head, data), predict_members(loop, head, data)
    )
    for i in range(3):
        a, b = stacked.member_state_dict(i), loop.member_state_dict(i)
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k])


class _Unstackable(nn.Module):
    stackable = False

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(5, 1)


def test_make_ensemble_loops_when_a_module_cannot_be_vmapped():
    assert isinstance(make_ensemble(_make, [0, 1]), StackedEnsemble)

    def unstackable():
        model = _make()
        model.extra = _Unstackable()
        return model

    assert isinstance(make_ensemble(unstackable, [0, 1]), LoopEnsemble)


class _Penalised(nn.Module):
    """An encoder whose aux loss pulls its weights to zero."""

    stackable = False

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_dim, 2)
        self.out_dim = 2

    def forward(self, x, mask=None):
        return self.lin(x)

    def aux_loss(self):
        return 100.0 * self.lin.weight.pow(2).sum()


def test_loop_ensemble_trains_and_adds_the_encoders_aux_loss():
    def penalised():
        model = _make()
        model.encoders["a"] = _Penalised(5)
        model.fusion = build_model(
            ModelConfig(default_encoder=PartSpec(name="identity")), {"a": 2, "b": 4}, 1
        ).fusion
        model.encoders["b"] = _make().encoders["b"]
        return model

    ens = make_ensemble(penalised, [0, 1])
    assert isinstance(ens, LoopEnsemble)
    head = BinaryHead()
    batch = _data(8).repeat(2)
    plan = EnsemblePlan(ens, head)
    losses = plan.member_losses(batch)
    outputs, view_mask = ens(batch.inputs, batch.present)
    for m in range(2):
        task = head(outputs[m], view_mask[m], batch.y[m]).loss
        penalty = 100.0 * ens.members[m].encoders["a"].lin.weight.pow(2).sum()
        torch.testing.assert_close(losses[m], task + penalty)
    info = fit_ensemble(
        ens,
        head,
        _data(32),
        _data(16, seed=1),
        epochs=5,
        batch_size=16,
        patience=50,
        optimizer="adamw",
        lr=0.05,
        weight_decay=0.0,
        gradient_clip=1.0,
        seed=0,
    )
    assert info["epochs_run"] == 5 and len(info["best_epoch"]) == 2
