"""Graph encoders: the encoder contract on PyG batches, readouts, batching, empty graphs."""

import inspect

import pytest
import torch
from torch_geometric.data import Batch, Data

from biozoo.encoders._registry import ENCODERS
from biozoo.encoders.gnn import GraphEncoder
from biozoo.inputs import GraphInput, TableInput
from biozoo.layers.readout import READOUTS, GraphReadout

NAMES = ["chebnet", "gat", "gcn", "gin"]
STACKABLE = {"gin"}  # runs under vmap on padded member batches
NODE_DIM, EDGE_DIM = 5, 3
IN_DIM = GraphInput(node_dim=NODE_DIM, edge_dim=EDGE_DIM)
SMALL = {"hidden": 8, "layers": 2, "out_dim": 6}


def graph(n: int, seed: int) -> Data:
    """A ring of ``n`` nodes with one chord, random features, edges both ways."""
    g = torch.Generator().manual_seed(seed)
    pairs = [(i, (i + 1) % n) for i in range(n)] if n > 2 else [(0, 1)][: n - 1]
    if n > 3:
        pairs.append((0, n // 2))
    ei = torch.tensor(pairs + [(j, i) for i, j in pairs], dtype=torch.long).reshape(-1, 2).T
    m = ei.shape[1] // 2
    ea = torch.randn(m, EDGE_DIM, generator=g)
    return Data(
        x=torch.randn(n, NODE_DIM, generator=g),
        edge_index=ei.contiguous(),
        edge_attr=torch.cat([ea, ea]),
    )


def empty() -> Data:
    return Data(
        x=torch.zeros(0, NODE_DIM),
        edge_index=torch.zeros(2, 0, dtype=torch.long),
        edge_attr=torch.zeros(0, EDGE_DIM),
    )


def build(name: str, **options) -> GraphEncoder:
    return ENCODERS.get(name)(IN_DIM, **{**SMALL, **options})


def permuted(g: Data, perm: torch.Tensor) -> Data:
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(len(perm))
    return Data(x=g.x[perm], edge_index=inverse[g.edge_index], edge_attr=g.edge_attr)


@pytest.fixture
def batch() -> Batch:
    return Batch.from_data_list([graph(4, 0), graph(6, 1), graph(1, 2), graph(5, 3)])


@pytest.mark.parametrize("name", NAMES)
def test_shape_no_nan_and_class_attributes(name, batch):
    torch.manual_seed(0)
    enc = build(name)
    z = enc(batch)
    assert z.shape == (4, 6) and enc.out_dim == 6
    assert torch.isfinite(z).all()
    assert enc.reads == (GraphInput,) and enc.stackable is (name in STACKABLE)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_gradient(name, batch):
    torch.manual_seed(0)
    enc = build(name, readout="attention", **({"train_eps": True} if name == "gin" else {}))
    x = batch.x.clone().requires_grad_(True)
    b = batch.clone()
    b.x = x
    enc(b).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", NAMES)
def test_absent_and_empty_graphs_embed_to_zero(name):
    torch.manual_seed(0)
    enc = build(name)
    b = Batch.from_data_list([graph(4, 0), empty(), graph(3, 1), graph(5, 2)])
    assert b.num_graphs == 4
    mask = torch.tensor([True, True, True, False])
    z = enc(b, mask)
    assert z.shape == (4, 6)
    assert torch.all(z[1] == 0) and torch.all(z[3] == 0)
    assert torch.any(z[0] != 0) and torch.any(z[2] != 0)
    all_empty = enc(Batch.from_data_list([empty(), empty()]), torch.tensor([False, False]))
    assert all_empty.shape == (2, 6) and torch.all(all_empty == 0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("readout", READOUTS)
def test_node_order_does_not_change_the_embedding(name, readout):
    torch.manual_seed(0)
    enc = build(name, readout=readout).eval()
    g = graph(6, 4)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    a = enc(Batch.from_data_list([g]))
    b = enc(Batch.from_data_list([permuted(g, perm)]))
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("norm", ["batch", "layer", "graph", "none"])
def test_a_graph_alone_equals_the_graph_inside_a_batch(name, norm):
    torch.manual_seed(0)
    enc = build(name, norm=norm, readout="attention").eval()
    graphs = [empty(), graph(4, 0), graph(7, 1), empty(), graph(2, 2)]
    together = enc(Batch.from_data_list(graphs))
    for i, g in enumerate(graphs):
        alone = enc(Batch.from_data_list([g]))
        assert torch.allclose(alone[0], together[i], atol=1e-5), i


@pytest.mark.parametrize("readout", READOUTS)
def test_readouts_are_permutation_invariant_and_zero_on_empty_graphs(readout):
    torch.manual_seed(0)
    pool = GraphReadout(readout, 4)
    x = torch.randn(7, 4)
    batch = torch.tensor([0, 0, 0, 2, 2, 2, 2])  # graph 1 has no nodes
    out = pool(x, batch, 3)
    assert out.shape == (3, 4) and torch.all(out[1] == 0)
    perm = torch.tensor([2, 0, 1, 5, 3, 6, 4])
    assert torch.allclose(pool(x[perm], batch, 3), out, atol=1e-6)
    if readout == "mean":
        assert torch.allclose(out[0], x[:3].mean(0))
    if readout == "max":
        assert torch.allclose(out[2], x[3:].max(0).values)
    if readout == "sum":
        assert torch.allclose(out[0], x[:3].sum(0))


def test_gin_uses_gine_with_edge_features_and_gin_without():
    with_edges = build("gin")
    without = ENCODERS.get("gin")(GraphInput(node_dim=NODE_DIM, edge_dim=0), **SMALL)
    assert type(with_edges.convs[0]).__name__ == "GINEConv"
    assert type(without.convs[0]).__name__ == "GINConv"
    g = graph(5, 0)
    g.edge_attr = None
    assert without(Batch.from_data_list([g])).shape == (1, 6)


def test_edge_features_change_gat_and_gin_but_not_gcn():
    torch.manual_seed(0)
    g = graph(5, 0)
    h = g.clone()
    h.edge_attr = torch.randn_like(g.edge_attr)
    for name, uses in [("gat", True), ("gin", True), ("gcn", False), ("chebnet", False)]:
        enc = build(name).eval()
        same = torch.allclose(enc(Batch.from_data_list([g])), enc(Batch.from_data_list([h])))
        assert same is not uses, name


def test_chebnet_order_sets_the_receptive_field():
    torch.manual_seed(0)
    # a path 0-1-2-3-4-5: with one layer, node 5 reaches node 0's readout only if K - 1 >= 5
    n = 6
    pairs = [(i, i + 1) for i in range(n - 1)]
    ei = torch.tensor(pairs + [(j, i) for i, j in pairs]).T.contiguous()
    x = torch.randn(n, NODE_DIM)
    for K, reaches in [(2, False), (6, True)]:
        enc = build("chebnet", K=K, layers=1, residual=False, norm="none", dropout=0.0).eval()
        x_var = x.clone().requires_grad_(True)
        h = enc.node_states(Data(x=x_var, edge_index=ei))
        (grad,) = torch.autograd.grad(h[0].sum(), x_var)
        assert bool(grad[5].abs().sum() > 0) is reaches, K


@pytest.mark.parametrize("name", NAMES)
def test_config_matches_signature_and_reset_is_deterministic(name):
    cls = ENCODERS.get(name)
    params = inspect.signature(cls).parameters
    for field, info in cls.Config.model_fields.items():
        assert field in params, field
        assert params[field].default == info.default, field
    assert set(params) - {"input"} == set(cls.Config.model_fields)
    enc = cls(IN_DIM, **cls.Config().model_dump())
    torch.manual_seed(1)
    enc.reset_parameters()
    a = [p.clone() for p in enc.parameters()]
    torch.manual_seed(1)
    enc.reset_parameters()
    assert all(torch.equal(x, y) for x, y in zip(a, enc.parameters(), strict=True))


def test_a_table_input_is_refused():
    with pytest.raises(ValueError, match="reads graphs"):
        ENCODERS.get("gcn")(TableInput(12))
