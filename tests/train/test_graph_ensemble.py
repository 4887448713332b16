"""Graph ensembles trained together: GIN members under vmap on padded member batches agree
with the same members called one by one (outputs, losses, gradients, batch-norm statistics)."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from biozoo.config import ModelConfig
from biozoo.data.batch import FoldData, GraphSource, MemberGraphs, member_graphs
from biozoo.data.spec import PartSpec
from biozoo.heads import RegressionHead
from biozoo.inputs import GraphInput, TableInput
from biozoo.model import build_model
from biozoo.train.ensemble import LoopEnsemble, StackedEnsemble, make_ensemble
from biozoo.train.plan import EnsemblePlan, predict_members

NODE, EDGE = 5, 3
SEEDS = [1, 2, 3]


def _graph(n: int, seed: int) -> Data:
    g = torch.Generator().manual_seed(seed)
    if n == 0:
        return Data(
            x=torch.zeros(0, NODE),
            edge_index=torch.zeros(2, 0, dtype=torch.long),
            edge_attr=torch.zeros(0, EDGE),
        )
    pairs = [(i, i + 1) for i in range(n - 1)] + [(0, n - 1)] * (n > 2)
    ei = torch.tensor(pairs + [(j, i) for i, j in pairs], dtype=torch.long).reshape(-1, 2).T
    ea = torch.randn(ei.shape[1] // 2, EDGE, generator=g)
    return Data(
        x=torch.randn(n, NODE, generator=g),
        edge_index=ei.contiguous(),
        edge_attr=torch.cat([ea, ea]),
    )


def _data(n: int = 20) -> FoldData:
    graphs = [_graph(1 + (i * 7) % 9 if i % 6 else 0, i) for i in range(n)]
    table = torch.randn(n, 4, generator=torch.Generator().manual_seed(0))
    inputs = {"mol": GraphSource(graphs), "t": table}
    present = {
        "mol": torch.tensor([g.num_nodes > 0 for g in graphs]),
        "t": torch.ones(n, dtype=torch.bool),
    }
    return FoldData(inputs, present, torch.randn(n))


def _make(readout: str, norm: str):
    spec = ModelConfig(
        default_encoder=PartSpec(name="mlp", hidden=[6], out_dim=4, dropout=0.0),
        encoders={
            "mol": PartSpec(
                name="gin", hidden=8, layers=2, out_dim=6, dropout=0.0, readout=readout, norm=norm
            )
        },
    )
    return build_model(spec, {"mol": GraphInput(NODE, EDGE), "t": TableInput(4)}, 1)


def _grads(ens) -> dict[str, torch.Tensor]:
    names = list(ens.stacked_state())
    if isinstance(ens, StackedEnsemble):
        return {n: p.grad for n, p in zip(ens.param_names, ens.stacked, strict=True)}
    params = [dict(m.named_parameters()) for m in ens.members]
    return {n: torch.stack([p[n].grad for p in params]) for n in names if n in params[0]}


@pytest.mark.parametrize(
    ("readout", "norm"),
    [("mean", "batch"), ("sum", "graph"), ("attention", "layer"), ("max", "none")],
)
def test_gin_members_together_match_the_loop_on_the_same_weights(readout, norm):
    make = lambda: _make(readout, norm)  # noqa: E731
    stacked = make_ensemble(make, SEEDS)
    assert isinstance(stacked, StackedEnsemble)
    loop = LoopEnsemble(make, SEEDS)
    loop.load_stacked_state(stacked.stacked_state())
    head = RegressionHead()
    data = _data()
    # each member its own minibatch (different graphs, different node counts)
    index = torch.stack(
        [torch.randperm(len(data), generator=torch.Generator().manual_seed(s))[:8] for s in SEEDS]
    )
    batch = data.take(index)
    losses = {}
    for name, ens in {"stacked": stacked, "loop": loop}.items():
        ens.train()
        losses[name] = EnsemblePlan(ens, head).member_losses(batch)
        losses[name].sum().backward()
    torch.testing.assert_close(losses["stacked"], losses["loop"])
    g_s, g_l = _grads(stacked), _grads(loop)
    assert g_s.keys() == g_l.keys()
    for n in g_s:
        torch.testing.assert_close(g_s[n], g_l[n], msg=n)
    s_state, l_state = stacked.stacked_state(), loop.stacked_state()
    for n in s_state:  # batch-norm running statistics over the real nodes only
        torch.testing.assert_close(
            s_state[n].to(torch.float64), l_state[n].to(torch.float64), msg=n
        )
    torch.testing.assert_close(
        predict_members(stacked, head, data), predict_members(loop, head, data)
    )


def test_member_graphs_pads_into_a_separate_graph_slot():
    src = GraphSource([_graph(3, 0), _graph(5, 1), _graph(0, 2), _graph(2, 3)])
    padded = member_graphs(src.take(torch.tensor([[0, 1], [2, 3]])))
    assert padded.x.shape == (2, 9, NODE) and padded.graph_slots.shape == (2, 2)
    assert padded.node_mask.sum(1).tolist() == [8, 2]
    assert (padded.batch[~padded.node_mask] == 2).all()
    pad_edges = padded.edge_index[1][:, 2:]  # member 1 has 2 real edges
    assert (pad_edges == 8).all()


def test_take_padded_gathers_the_same_tensors_as_padding_member_batches():
    src = GraphSource([_graph(1 + (i * 5) % 7 if i % 4 else 0, i) for i in range(15)])
    part = src.take(torch.tensor([14, 2, 9, 0, 5, 7, 11, 3]))  # a part sharing the packing
    index = torch.tensor([[0, 3, 5], [7, 7, 1], [2, 4, 6]])
    for source in (src, part):
        fast, slow = source.take_padded(index), member_graphs(source.take(index))
        for name, a, b in zip(fast._fields, fast, slow, strict=True):
            assert a.dtype == b.dtype and torch.equal(a, b), name


def test_fold_take_padded_only_for_graph_inputs_and_unchanged_without_it():
    data = _data()
    index = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    padded, plain = data.take(index, padded=True), data.take(index)
    assert isinstance(padded.inputs["mol"], MemberGraphs)
    assert isinstance(plain.inputs["mol"], list) and len(plain.inputs["mol"]) == 2
    torch.testing.assert_close(padded.inputs["t"], plain.inputs["t"], rtol=0, atol=0)
    assert padded.to("cpu").inputs["mol"].x.shape == padded.inputs["mol"].x.shape
