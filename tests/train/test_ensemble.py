import numpy as np
import torch

from biozoo.config import ModelConfig
from biozoo.data.batch import FoldData
from biozoo.data.spec import PartSpec
from biozoo.heads import BinaryHead
from biozoo.model import build_model
from biozoo.train.ensemble import StackedEnsemble
from biozoo.train.plan import MemberBatches, fit_ensemble, predict_members

DIMS = {"a": 6, "b": 3}


def make(spec=None, head_outputs=1):
    spec = spec or ModelConfig(encoders={"a": PartSpec(name="mlp", hidden=[8], out_dim=4)})
    return lambda: build_model(spec, DIMS, head_outputs)


def data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = {k: torch.randn(n, d, generator=g) for k, d in DIMS.items()}
    y = ((x["a"][:, 0] + x["b"][:, 0]) > 0).long()
    return FoldData(x, {k: torch.ones(n, dtype=torch.bool) for k in DIMS}, y)


def test_stacked_members_equal_separately_built_models():
    ens = StackedEnsemble(make(), seeds=[3, 4]).eval()
    d = data(5).repeat(2)
    out, _ = ens(d.inputs, d.present)
    for m, seed in enumerate([3, 4]):
        torch.manual_seed(seed)
        single = make()().eval()
        ref, _ = single(
            {k: v[m] for k, v in d.inputs.items()}, {k: v[m] for k, v in d.present.items()}
        )
        assert torch.allclose(out[m], ref, atol=1e-6)
    assert not torch.allclose(out[0], out[1])


def test_member_state_dict_loads_into_a_plain_model():
    ens = StackedEnsemble(make(), seeds=[1, 2, 3]).eval()
    model = make()().eval()
    model.load_state_dict(ens.member_state_dict(2))
    d = data(4)
    ref, _ = model(d.inputs, d.present)
    out, _ = ens(*((d.repeat(3).inputs, d.repeat(3).present)))
    assert torch.allclose(out[2], ref, atol=1e-6)


def test_each_member_gets_its_own_batch_order():
    batches = list(MemberBatches(data(10), n_members=3, batch_size=4, seed=0))
    assert len(batches) == 3
    first = torch.cat([b.inputs["a"][:, :, 0] for b in batches], dim=1)  # (M, n)
    assert not torch.equal(first[0], first[1])
    # each member sees every row exactly once per epoch
    for m in range(3):
        assert sorted(first[m].tolist()) == sorted(data(10).inputs["a"][:, 0].tolist())


def test_training_learns_is_deterministic_and_restores_best_members():
    head = BinaryHead()
    fit, val = data(96, seed=1), data(48, seed=2)

    def run():
        ens = StackedEnsemble(make(), seeds=[10, 11, 12])
        info = fit_ensemble(
            ens,
            head,
            fit,
            val,
            epochs=40,
            batch_size=16,
            patience=5,
            optimizer="adamw",
            lr=1e-2,
            weight_decay=0.0,
            gradient_clip=1.0,
            seed=0,
        )
        return ens, info, predict_members(ens, head, val)

    ens, info, p = run()
    _, info2, p2 = run()
    history, history2 = info.pop("history"), info2.pop("history")
    assert torch.equal(p, p2) and info == info2 and history.equals(history2)
    acc = (p.mean(0).argmax(1) == val.y).float().mean()
    assert acc > 0.8
    # the restored weights are the best epoch's: re-evaluating gives the recorded loss
    losses = [
        head(
            *[t[m] for t in ens(*(val.repeat(3).inputs, val.repeat(3).present))], val.y
        ).loss.item()
        for m in range(3)
    ]
    assert np.allclose(losses, info["best_val_loss"], atol=1e-5)
