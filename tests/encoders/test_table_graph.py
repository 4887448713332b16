"""table_gnn: the encoder contract on a shared feature graph, and its graph operators."""

import inspect

import numpy as np
import pytest
import torch

from biozoo.encoders.table_graph import TableGNNEncoder, _Cheb, cheb_laplacian
from biozoo.errors import BiozooError
from biozoo.inputs import FeatureGraphInput, TableInput
from biozoo.tasks import TASKS
from biozoo.train.ensemble import StackedEnsemble

N, BATCH = 6, 4
# a path 0-1-2-3 plus 0-4; node 5 is isolated
EDGES = [[0, 1, 1, 2, 2, 3, 0, 4], [1, 0, 2, 1, 3, 2, 4, 0]]
INFO = FeatureGraphInput(
    n_features=N, edge_index=EDGES, edge_weight=(1.0, 1.0, 0.5, 0.5, 2.0, 2.0, 1.0, 1.0)
)
CONVS = ["gcn", "graph", "cheb"]
READOUTS = ["mean", "max", "sum", "attention", "flatten"]


def build(**kw):
    opts = {"hidden": [8, 8], "gene_embedding": 4, "out_dim": 5, "dropout": 0.0, **kw}
    return TableGNNEncoder(INFO, **opts)


def test_config_matches_signature():
    params = inspect.signature(TableGNNEncoder.__init__).parameters
    assert set(TableGNNEncoder.Config.model_fields) == set(params) - {"self", "input"}
    for name, value in TableGNNEncoder.Config().model_dump().items():
        default = params[name].default
        assert (list(default) if name == "hidden" else default) == value, name


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("readout", READOUTS)
def test_shape_finite_and_every_parameter_gets_a_gradient(conv, readout):
    torch.manual_seed(0)
    enc = build(conv=conv, readout=readout)
    x = torch.randn(BATCH, N, requires_grad=True)
    z = enc(x)
    assert z.shape == (BATCH, enc.out_dim) and torch.isfinite(z).all()
    z.pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("conv", CONVS)
def test_mask_zeroes_absent_samples_and_sample_order_does_not_matter(conv):
    torch.manual_seed(0)
    enc = build(conv=conv).eval()
    x = torch.randn(BATCH, N)
    mask = torch.tensor([True, False, True, False])
    z = enc(x, mask)
    assert torch.all(z[~mask] == 0) and torch.any(z[mask] != 0)
    perm = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(enc(x[perm]), enc(x)[perm])
    # a sample's embedding does not depend on the other samples of the batch
    torch.testing.assert_close(enc(x[:1]), enc(x)[:1])


def test_messages_follow_the_graph():
    torch.manual_seed(0)
    enc = build(conv="gcn", hidden=[8]).eval()  # one layer: one hop
    x = torch.randn(1, N)
    base = enc.node_states(x)
    bumped = x.clone()
    bumped[0, 3] += 1.0  # node 3's neighbours are node 2 only (and itself)
    changed = (enc.node_states(bumped) - base).abs().sum(-1)[0] > 1e-6
    assert changed.tolist() == [False, False, True, True, False, False]


def test_gcn_with_precomputed_norm_equals_pyg_gcnconv():
    from torch_geometric.nn import GCNConv

    torch.manual_seed(0)
    enc = build(conv="gcn", hidden=[8], gene_embedding=0)
    ref = GCNConv(1, 8)
    ref.lin.weight.data.copy_(enc.convs[0].lin.weight.data)
    ref.bias.data.copy_(enc.convs[0].bias.data)
    x = torch.randn(BATCH, N, 1)
    ei, w = torch.tensor(EDGES), torch.tensor(INFO.edge_weight)
    out = enc.convs[0](x, enc.edge_index, enc.edge_weight)
    torch.testing.assert_close(out, ref(x, ei, w), atol=1e-5, rtol=1e-5)


def test_chebyshev_filter_equals_pyg_chebconv():
    from torch_geometric.nn import ChebConv

    torch.manual_seed(0)
    ref = ChebConv(3, 5, K=3)
    mine = _Cheb(3, 5, 3)
    for a, b in zip(mine.lins, ref.lins, strict=True):
        a.weight.data.copy_(b.weight.data)
    mine.bias.data.copy_(ref.bias.data)
    ei, w = torch.tensor(EDGES), torch.tensor(INFO.edge_weight)
    x = torch.randn(BATCH, N, 3)
    torch.testing.assert_close(
        mine(x, *cheb_laplacian(ei, w, N)), ref(x, ei, w), atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize(
    ("conv", "readout"), [("gcn", "attention"), ("graph", "max"), ("cheb", "flatten")]
)
def test_stacked_ensemble_agrees_with_a_loop(conv, readout):
    """``stackable = True``: vmap over members gives each member's own output and gradients."""
    assert TableGNNEncoder.stackable
    ens = StackedEnsemble(lambda: build(conv=conv, readout=readout), seeds=[0, 1, 2])
    x = torch.randn(3, BATCH, N)
    out = ens(x)
    loops = []
    for i in range(3):
        member = build(conv=conv, readout=readout)
        member.load_state_dict(ens.member_state_dict(i))
        loops.append(member(x[i]))
    torch.testing.assert_close(out, torch.stack(loops), atol=1e-5, rtol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in ens.stacked)


def test_reset_parameters_is_deterministic():
    enc = build(conv="cheb")
    torch.manual_seed(1)
    enc.reset_parameters()
    a = [p.clone() for p in enc.parameters()]
    torch.manual_seed(1)
    enc.reset_parameters()
    assert all(torch.equal(x, y) for x, y in zip(a, enc.parameters(), strict=True))


def test_graph_without_edges_and_a_table_in_dim():
    empty = FeatureGraphInput(n_features=3, edge_index=((), ()))
    for conv in CONVS:
        z = TableGNNEncoder(empty, conv=conv, out_dim=2)(torch.randn(2, 3))
        assert z.shape == (2, 2) and torch.isfinite(z).all()
    with pytest.raises(BiozooError, match="feature graph"):
        TableGNNEncoder(TableInput(12))


def test_builds_from_a_fitted_feature_graph_transform():
    from biozoo.data.cohort import TableModality
    from biozoo.data.table.feature_graph import FeatureGraphTransform

    X = np.random.default_rng(0).normal(size=(30, 10)).astype(np.float32)
    mod = TableModality("rna", X, [f"G{i}" for i in range(10)], np.ones(30, bool))
    part = FeatureGraphTransform(k=3).fit(mod, None, TASKS.get("binary")())
    enc = TableGNNEncoder(part.input, out_dim=4)
    z = enc(part.transform(mod))
    assert z.shape == (30, 4) and torch.isfinite(z).all()
