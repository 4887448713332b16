"""Every registered encoder honours the encoder contract, for every input kind it reads."""

import pytest
import torch

from biozoo.encoders import ENCODERS
from biozoo.inputs import (
    EventsInput,
    FeatureGraphInput,
    GraphInput,
    GroupsInput,
    ImageInput,
    SeriesInput,
    TableInput,
    TokensInput,
)

BATCH = 4


def _graph_batch(n_graphs: int):
    from torch_geometric.data import Batch, Data

    g = torch.Generator().manual_seed(0)
    graphs = []
    for i in range(n_graphs):
        n = 3 + i
        src = torch.arange(n - 1)
        edge_index = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], 1)
        graphs.append(
            Data(
                x=torch.randn(n, 5, generator=g),
                edge_index=edge_index,
                edge_attr=torch.randn(edge_index.shape[1], 2, generator=g),
            )
        )
    return Batch.from_data_list(graphs)


def example(kind: type):
    """``(input, x)`` of a small batch of the input spec type ``kind``."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([7, 5, 3, 6])
    steps = torch.arange(7).unsqueeze(0) < lengths.unsqueeze(1)  # (B, L)
    mask = torch.ones(BATCH, 3, 4, dtype=torch.bool)
    mask[:, 2, 2:] = False
    edges = ((0, 1, 1, 2, 3, 4), (1, 0, 2, 1, 4, 3))
    examples = {
        TableInput: lambda: (TableInput(12), torch.randn(BATCH, 12, generator=g)),
        TokensInput: lambda: (
            TokensInput(vocab=10, max_len=7),
            {"tokens": torch.randint(3, 10, (BATCH, 7), generator=g) * steps, "mask": steps},
        ),
        SeriesInput: lambda: (
            SeriesInput(channels=3, max_len=7),
            {"values": torch.randn(BATCH, 7, 3, generator=g) * steps.unsqueeze(-1), "mask": steps},
        ),
        GroupsInput: lambda: (
            GroupsInput(groups=3, size=4),
            {"values": torch.randn(BATCH, 3, 4, generator=g) * mask, "mask": mask},
        ),
        FeatureGraphInput: lambda: (
            FeatureGraphInput(n_features=6, edge_index=edges),
            torch.randn(BATCH, 6, generator=g),
        ),
        GraphInput: lambda: (GraphInput(node_dim=5, edge_dim=2), _graph_batch(BATCH)),
        ImageInput: lambda: (
            ImageInput(channels=2, height=12, width=12),
            torch.randn(BATCH, 2, 12, 12, generator=g),
        ),
        EventsInput: lambda: (
            EventsInput(vocab=10, max_len=7, covariates=2),
            {
                "codes": torch.randint(2, 10, (BATCH, 7), generator=g) * steps,
                "ages": (30 + torch.rand(BATCH, 7, generator=g).cumsum(1) * 5) * steps,
                "mask": steps,
                "covariates": torch.randn(BATCH, 2, generator=g),
            },
        ),
    }
    if kind == VALUED:  # tokens that also carry value ids (binned expression)
        spec, x = examples[TokensInput]()
        values = torch.randint(2, 6, x["tokens"].shape, generator=g) * x["mask"]
        valued = TokensInput(vocab=spec.vocab, max_len=spec.max_len, values=6)
        return valued, {**x, "values": values}
    return examples[kind]()


OPTIONS = {
    "mlp-plr": ("mlp", {"numeric_embedding": "plr", "plr_frequencies": 3, "plr_dim": 2}),
    "transformer-linear": ("transformer", {"attention": "linear"}),
    "transformer-mixed": ("transformer", {"layers": ["mamba", "retention", "attention"]}),
    "retnet-recurrent": ("retnet", {"form": "recurrent"}),
    "vit-axial": ("vit", {"attention": "axial"}),
    "vit-linear": ("vit", {"attention": "linear"}),
}
"""Encoder options that change the network, checked like registered encoders of their own:
id -> (encoder, options)."""

VALUED = "tokens_values"
CASES = [(name, kind) for name in ENCODERS.names() for kind in ENCODERS.get(name).reads]
CASES += [
    (variant, kind) for variant, (name, _) in OPTIONS.items() for kind in ENCODERS.get(name).reads
]
CASES += [(name, VALUED) for name, kind in list(CASES) if kind is TokensInput]
IDS = [f"{n}-{getattr(k, 'kind', k)}" for n, k in CASES]


def build(name, kind):
    name, options = OPTIONS.get(name, (name, {}))
    cls = ENCODERS.get(name)
    spec, x = example(kind)
    return cls(spec, **cls.Config(**options).model_dump()), x


def _float_leaves(x):
    if isinstance(x, torch.Tensor):
        return [x] if x.is_floating_point() else []
    if isinstance(x, dict):
        return [t for v in x.values() for t in _float_leaves(v)]
    return [x.x]  # a graph batch: node features


@pytest.mark.parametrize(("name", "kind"), CASES, ids=IDS)
def test_shape_no_nan_and_out_dim(name, kind):
    torch.manual_seed(0)
    enc, x = build(name, kind)
    z = enc(x)
    assert z.shape == (BATCH, enc.out_dim)
    assert torch.isfinite(z).all()


@pytest.mark.parametrize(("name", "kind"), CASES, ids=IDS)
def test_every_parameter_gets_a_gradient(name, kind):
    torch.manual_seed(0)
    enc, x = build(name, kind)
    leaves = _float_leaves(x)
    for t in leaves:
        t.requires_grad_(True)
    enc(x).pow(2).sum().backward()
    for t in leaves:
        assert t.grad is not None and t.grad.abs().sum() > 0
    for pname, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize(("name", "kind"), CASES, ids=IDS)
def test_absent_samples_embed_to_zero(name, kind):
    enc, x = build(name, kind)
    enc.eval()
    mask = torch.tensor([True, False, True, False])
    z = enc(x, mask)
    assert torch.all(z[~mask] == 0)
    assert torch.any(z[mask] != 0)


@pytest.mark.parametrize(("name", "kind"), CASES, ids=IDS)
def test_reset_parameters_runs_and_is_deterministic(name, kind):
    enc, _ = build(name, kind)
    torch.manual_seed(1)
    enc.reset_parameters()
    a = [p.clone() for p in enc.parameters()]
    torch.manual_seed(1)
    enc.reset_parameters()
    for x, y in zip(a, enc.parameters(), strict=True):
        assert torch.equal(x, y)


def test_mlp_options_shape_the_network():
    enc = ENCODERS.get("mlp")(TableInput(12), hidden=[8, 6], out_dim=3, norm="layer", dropout=0.0)
    kinds = [type(m).__name__ for m in enc.mlp.net]
    assert kinds == ["Linear", "LayerNorm", "ReLU", "Linear", "LayerNorm", "ReLU", "Linear"]
    assert enc.out_dim == 3


def test_an_encoder_refuses_an_input_kind_it_cannot_read():
    from biozoo.config import ModelConfig
    from biozoo.data.spec import PartSpec
    from biozoo.errors import BiozooError
    from biozoo.model import build_model

    spec = ModelConfig(default_encoder=PartSpec(name="mlp"))
    with pytest.raises(BiozooError, match="encoder 'mlp' cannot read modality 'seq'.*tokens"):
        build_model(spec, {"seq": example(TokensInput)[0]}, 1)
