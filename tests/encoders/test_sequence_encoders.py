"""Sequence encoders (rnn, lstm, gru, cnn1d, transformer, mamba, retnet): contract, padding, vmap,
a toy task each of lstm, transformer and mamba learns in about a second, and the order test
every one of them passes with its defaults (an order-blind model fails it)."""

import inspect

import pytest
import torch
import torch.nn.functional as F

import biozoo.encoders.cnn1d
import biozoo.encoders.mamba
import biozoo.encoders.recurrent
import biozoo.encoders.retnet
import biozoo.encoders.transformer  # noqa: F401  (registers the encoders)
from biozoo.data.sequence.read import ALPHABETS
from biozoo.data.sources.order_motif import order_motif_peptides
from biozoo.encoders import ENCODERS
from biozoo.errors import BiozooError
from biozoo.inputs import GraphInput, GroupsInput, SeriesInput, TableInput, TokensInput
from biozoo.train.ensemble import StackedEnsemble

NAMES = ["rnn", "lstm", "gru", "cnn1d", "transformer", "mamba", "retnet"]
TOKENS = TokensInput(vocab=9, max_len=16)
SERIES = SeriesInput(channels=3, max_len=16)
GROUPS = GroupsInput(groups=5, size=4)
SMALL = {  # tiny sizes, no dropout
    "rnn": {"d_model": 8, "hidden": 8, "out_dim": 6},
    "lstm": {"d_model": 8, "hidden": 8, "out_dim": 6},
    "gru": {"d_model": 8, "hidden": 8, "out_dim": 6},
    "cnn1d": {"d_model": 8, "layers": 2, "out_dim": 6, "dropout": 0.0},
    "transformer": {"d_model": 8, "heads": 2, "layers": 2, "hidden": 16, "out_dim": 6,
                    "dropout": 0.0},
    "mamba": {"d_model": 8, "layers": 2, "d_state": 4, "out_dim": 6, "dropout": 0.0},
    "retnet": {"d_model": 8, "heads": 2, "layers": 2, "hidden": 16, "out_dim": 6,
               "dropout": 0.0},
}  # fmt: skip
VARIANTS = {  # options that change how padding is handled
    "rnn": [{}, {"bidirectional": True, "layers": 2}],
    "lstm": [{}, {"bidirectional": True, "pool": "mean"}],
    "gru": [{}, {"bidirectional": True}],
    "cnn1d": [{}, {"pool": "max"}],
    "transformer": [
        {},
        {"pooling": "mean", "positional": "rotary", "stem_kernel": 5},
        {"positional": "learned", "stem": "none"},
        {"attention": "linear"},
        {"attention": "linear", "pooling": "mean", "positional": "rotary", "stem": "none"},
        {"layers": ["mamba", "retention", "attention"]},
        {"layers": ["mamba", "attention"], "pooling": "mean", "stem": "none"},
    ],
    "mamba": [{}, {"bidirectional": False}],
    "retnet": [{}, {"bidirectional": False}, {"chunk": 3}, {"form": "recurrent"}],
}
CASES = [(n, v) for n in NAMES for v in VARIANTS[n]]


def build(name, input, **options):
    return ENCODERS.get(name)(input, **{**SMALL[name], **options})


def pad(t, extra):
    return torch.cat([t, t.new_zeros(t.shape[0], extra, *t.shape[2:])], dim=1)


def token_batch(extra=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 3, 8, 0])  # the last sample has no token
    mask = torch.arange(8)[None] < lengths[:, None]
    tokens = torch.randint(1, 9, (4, 8), generator=g) * mask
    return {"tokens": pad(tokens, extra), "mask": pad(mask, extra)}


def series_batch(extra=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(8)[None] < torch.tensor([5, 3, 8, 0])[:, None]
    values = pad(torch.randn(4, 8, 3, generator=g) * mask[..., None], extra)
    pmask = pad(mask, extra)
    values[~pmask] = float("nan")  # whatever sits at padded steps must not matter
    return {"values": values, "mask": pmask}


@pytest.mark.parametrize("name", NAMES)
def test_config_matches_the_constructor(name):
    cls = ENCODERS.get(name)
    params = inspect.signature(cls.__init__).parameters
    options = {k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert options == set(cls.Config.model_fields)
    for key, field in cls.Config.model_fields.items():
        assert field.default == params[key].default, key
    assert set(cls.reads) == {TokensInput, SeriesInput, GroupsInput, TableInput}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "in_dim, x",
    [
        (TableInput(7), torch.randn(4, 7)),
        (TOKENS, token_batch()),
        (SERIES, series_batch()),
        (GROUPS, {"values": torch.randn(4, 5, 4), "mask": torch.rand(4, 5, 4) > 0.3}),
    ],
    ids=["table", "tokens", "series", "groups"],
)
def test_every_input_kind_gives_finite_embeddings(name, in_dim, x):
    torch.manual_seed(0)
    enc = build(name, in_dim)
    z = enc(x, torch.tensor([True, True, False, True]))
    assert z.shape == (4, 6) and torch.isfinite(z).all()
    assert torch.all(z[2] == 0)


@pytest.mark.parametrize("name, options", CASES)
@pytest.mark.parametrize("make", [token_batch, series_batch], ids=["tokens", "series"])
def test_padding_never_changes_the_embedding(name, options, make):
    torch.manual_seed(0)
    in_dim = TOKENS if make is token_batch else SERIES
    enc = build(name, in_dim, **options).eval()
    z, z_padded = enc(make()), enc(make(extra=5))
    torch.testing.assert_close(z_padded, z, atol=1e-5, rtol=1e-5)
    assert torch.all(z[3] == 0)  # no token: zero embedding
    assert torch.all(z[:3].abs().sum(1) > 0)


@pytest.mark.parametrize("name", NAMES)
def test_masked_group_values_do_not_matter(name):
    torch.manual_seed(0)
    enc = build(name, GROUPS).eval()
    values = torch.randn(3, 5, 4)
    mask = torch.rand(3, 5, 4) > 0.3
    mask[0, 2] = False  # a whole group missing in the middle
    other = torch.where(mask, values, torch.randn(3, 5, 4) * 100)
    torch.testing.assert_close(
        enc({"values": other, "mask": mask}), enc({"values": values, "mask": mask})
    )


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_gradient_and_reset_is_deterministic(name):
    torch.manual_seed(0)
    enc = build(name, TOKENS)
    enc(token_batch()).pow(2).sum().backward()
    for pname, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    torch.manual_seed(1)
    enc.reset_parameters()
    first = [p.detach().clone() for p in enc.parameters()]
    torch.manual_seed(1)
    enc.reset_parameters()
    assert all(torch.equal(a, b) for a, b in zip(first, enc.parameters(), strict=True))


@pytest.mark.parametrize("name", [n for n in NAMES if ENCODERS.get(n).stackable])
def test_stackable_encoders_run_under_vmap(name):
    members = 3
    ens = StackedEnsemble(lambda: build(name, TOKENS), list(range(members)))
    x = {k: v.expand(members, *v.shape) for k, v in token_batch().items()}
    present = torch.tensor([True, False, True, True]).expand(members, 4)
    ens.train()
    ens(x, present).square().sum().backward()
    assert all(p.grad is not None for p in ens.parameters())
    ens.eval()
    z = ens(x, present)
    for m in range(members):
        member = build(name, TOKENS).eval()
        member.load_state_dict(ens.member_state_dict(m))
        torch.testing.assert_close(z[m], member(token_batch(), present[m]), atol=1e-5, rtol=1e-5)


def test_recurrent_encoders_are_not_stackable():
    assert not any(ENCODERS.get(n).stackable for n in ("rnn", "lstm", "gru"))


def test_transformer_attention_maps():
    enc = build("transformer", TOKENS).eval()
    maps = enc.attention_maps(token_batch())
    assert maps.shape == (4, 2, 2, 9, 9)  # [CLS] + 8 positions
    torch.testing.assert_close(maps.sum(-1), torch.ones(4, 2, 2, 9))
    key_weights = maps[..., 1:]  # weights on the input positions
    padded = ~token_batch()["mask"][:, None, None, None, :].expand_as(key_weights)
    assert torch.all(key_weights[padded] == 0) and torch.all(key_weights[~padded] > 0)


@pytest.mark.parametrize("ffn", ["kan", "moe"])
def test_transformer_with_kan_or_moe_blocks(ffn):
    torch.manual_seed(0)
    enc = build("transformer", TOKENS, ffn=ffn, kan_reg=0.1)
    assert enc.stackable == (ffn == "kan")
    z = enc(token_batch())
    aux = enc.aux_loss()
    assert aux is not None and aux.ndim == 0 and torch.isfinite(aux)
    (z.sum() + aux).backward()
    assert build("transformer", TOKENS).aux_loss() is None


def test_linear_attention_maps_and_padding():
    enc = build("transformer", TOKENS, attention="linear").eval()
    maps = enc.attention_maps(token_batch())
    assert maps.shape == (4, 2, 2, 9, 9)
    torch.testing.assert_close(maps.sum(-1), torch.ones(4, 2, 2, 9))
    padded = ~token_batch()["mask"][:, None, None, None, :].expand_as(maps[..., 1:])
    assert torch.all(maps[..., 1:][padded] == 0) and torch.all(maps[..., 1:][~padded] > 0)


@pytest.mark.parametrize("make", [token_batch, series_batch], ids=["tokens", "series"])
def test_retnet_forms_give_the_same_embedding(make):
    torch.manual_seed(0)
    in_dim = TOKENS if make is token_batch else SERIES
    enc = build("retnet", in_dim).eval()
    chunkwise = enc(make())
    for form, chunk in [("parallel", 64), ("recurrent", 64), ("chunkwise", 3)]:
        enc.form = form
        for layer in enc.layers:
            layer.forward_mixer.chunk = layer.backward_mixer.chunk = chunk
        torch.testing.assert_close(enc(make()), chunkwise, atol=1e-5, rtol=1e-5)


def test_mixed_stacks_build_the_layers_named():
    from biozoo.layers.attention import TransformerBlock

    enc = build("transformer", TOKENS, layers=["mamba", "retention", "attention"])
    kinds = [type(getattr(b, "layer", b)).__name__ for b in enc.blocks]
    assert kinds == ["MambaLayer", "RetentionLayer", "TransformerBlock"]
    assert enc.attention_maps(token_batch()).shape == (4, 1, 2, 9, 9)  # the attention block's
    assert isinstance(build("transformer", TOKENS, layers=3).blocks[2], TransformerBlock)
    with pytest.raises(BiozooError, match="no attention layer"):
        build("transformer", TOKENS, layers=["mamba"]).attention_maps(token_batch())
    with pytest.raises(ValueError, match="at least one"):
        ENCODERS.get("transformer").Config(layers=[])


def test_token_dropout_hides_tokens_in_training_only():
    torch.manual_seed(0)
    enc = build("transformer", TOKENS, token_dropout=0.5)
    plain = build("transformer", TOKENS)
    plain.load_state_dict(enc.state_dict())
    x = token_batch()
    real = x["mask"]
    torch.testing.assert_close(enc.eval()(x), plain.eval()(x))
    enc.train()
    seen = enc.attention_maps(x)[:, 0, 0, 0, 1:] > 0  # the [CLS] query's weights on tokens
    assert not (seen & ~real).any()  # padding stays hidden
    has = real.any(1)
    assert (seen.sum(1) >= 1)[has].all() and (seen != real)[has].any()
    enc.token_dropout = 0.999  # every token drawn: each sample keeps all of its own
    assert torch.equal(enc.attention_maps(x)[:, 0, 0, 0, 1:] > 0, real)
    with pytest.raises(ValueError):
        ENCODERS.get("transformer").Config(token_dropout=1.0)


def test_bad_inputs_are_reported():
    with pytest.raises(BiozooError, match="graph"):
        build("lstm", GraphInput(node_dim=3, edge_dim=0))
    with pytest.raises(BiozooError, match="multiple of its 4 heads"):
        build("transformer", TableInput(5), d_model=10, heads=4)
    with pytest.raises(BiozooError, match="even head width"):
        build("retnet", TableInput(5), d_model=12, heads=4)
    with pytest.raises(BiozooError, match="dict"):
        build("cnn1d", TOKENS)(torch.randn(2, 3))


def motif_data(n, seed):
    """Label: the bigram ``1 2`` occurs somewhere in a sequence of 5-8 tokens from {1..4}."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(8)[None] < torch.randint(5, 9, (n, 1), generator=g)
    tokens = torch.randint(1, 5, (n, 8), generator=g) * mask
    y = ((tokens[:, :-1] == 1) & (tokens[:, 1:] == 2)).any(1).float()
    return {"tokens": tokens, "mask": mask}, y


@pytest.mark.parametrize(
    "name, options",
    [
        ("lstm", {"d_model": 16, "hidden": 16}),
        ("transformer", {"d_model": 16, "heads": 2, "layers": 1, "hidden": 32,
                         "pooling": "mean", "positional": "rotary", "dropout": 0.0}),
        ("mamba", {"d_model": 16, "layers": 1, "d_state": 4, "dropout": 0.0}),
    ],
)  # fmt: skip
def test_a_tiny_model_learns_a_motif_detector(name, options):
    torch.manual_seed(0)
    enc = ENCODERS.get(name)(TokensInput(vocab=5, max_len=8), out_dim=8, **options)
    head = torch.nn.Linear(8, 1)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=1e-2)
    x, y = motif_data(512, 0)
    for _ in range(150):
        idx = torch.randint(0, 512, (64,))
        logits = head(enc({k: v[idx] for k, v in x.items()})).squeeze(-1)
        loss = F.binary_cross_entropy_with_logits(logits, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    x_test, y_test = motif_data(512, 1)
    enc.eval()
    with torch.no_grad():
        accuracy = ((head(enc(x_test)).squeeze(-1) > 0).float() == y_test).float().mean()
    assert y_test.mean() < 0.35  # majority class: about 0.7
    assert accuracy > 0.9


ORDER_BLIND = ("transformer", {"positional": "none", "pooling": "mean", "stem": "none"})


def order_motif_tokens(n, seed):
    """``RWKW`` (1) or ``WKWR`` (0) inside 8-14 residues: same composition, only order differs."""
    seqs, labels = order_motif_peptides(n, min_len=8, max_len=14, seed=seed)
    tokens = torch.zeros(n, 14, dtype=torch.long)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = torch.tensor([ALPHABETS["protein"].index(c) + 3 for c in s])
    return {"tokens": tokens, "mask": tokens != 0}, torch.tensor(labels.to_numpy()).float()


def order_accuracy(name, options, steps=60):
    torch.manual_seed(0)
    info = TokensInput(vocab=23, max_len=14)
    enc = ENCODERS.get(name)(info, **{**ENCODERS.get(name).Config().model_dump(), **options})
    head = torch.nn.Linear(enc.out_dim, 1)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=3e-3)
    x, y = order_motif_tokens(256, seed=0)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, 256, (32,), generator=g)
        logits = head(enc({k: v[idx] for k, v in x.items()})).squeeze(-1)
        loss = F.binary_cross_entropy_with_logits(logits, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    x_test, y_test = order_motif_tokens(256, seed=1)
    enc.eval()
    with torch.no_grad():
        return ((head(enc(x_test)).squeeze(-1) > 0).float() == y_test).float().mean().item()


ORDER_OPTIONS = [  # options beside the defaults
    ("transformer", {"attention": "linear"}),
    ("transformer", {"layers": ["mamba", "mamba", "attention"]}),
]


@pytest.mark.parametrize(
    "name, options", [(n, {}) for n in NAMES] + ORDER_OPTIONS, ids=lambda v: str(v or "")
)
def test_every_sequence_encoder_learns_order_not_just_composition(name, options):
    # defaults of each encoder; the two classes differ only in the order of four residues
    assert order_accuracy(name, options) > 0.9


def test_an_order_blind_encoder_fails_the_order_test():
    # mean of token embeddings without positions or stem: a function of composition only
    assert order_accuracy(*ORDER_BLIND) < 0.65
