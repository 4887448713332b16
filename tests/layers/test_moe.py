"""Mixture of experts: top-k routing, the load-balancing loss, and the ``moe`` encoder."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F

import biozoo.encoders.moe  # noqa: F401  (registers "moe" until encoders/__init__ imports it)
from biozoo.encoders import ENCODERS
from biozoo.errors import BiozooError
from biozoo.inputs import TableInput
from biozoo.layers.moe import MoEFeedForward
from biozoo.train.ensemble import LoopEnsemble, make_ensemble


def _reference(moe: MoEFeedForward, x: torch.Tensor) -> torch.Tensor:
    """Token by token: softmax, top-k, renormalise, sum the chosen experts' outputs."""
    out = []
    for t in x.reshape(-1, moe.dim):
        p = torch.softmax(moe.router.weight @ t, dim=0)
        top = torch.argsort(p, descending=True)[: moe.k]
        g = p[top] / p[top].sum()
        y = sum(
            g[j] * (F.gelu(t @ moe.w1[e] + moe.b1[e]) @ moe.w2[e] + moe.b2[e])
            for j, e in enumerate(top.tolist())
        )
        out.append(y)
    return torch.stack(out).reshape(x.shape)


@pytest.mark.parametrize("n_experts, k", [(4, 2), (5, 1), (3, 3)])
@pytest.mark.parametrize("dense", [True, False])
def test_output_matches_a_token_by_token_reference(n_experts, k, dense):
    torch.manual_seed(0)
    moe = MoEFeedForward(6, 8, n_experts=n_experts, k=k)
    torch.nn.init.normal_(moe.router.weight, std=1.0)  # decisive routing
    if not dense:
        moe.dense_limit = 0
    x = torch.randn(2, 5, 6)
    y = moe(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, _reference(moe, x), rtol=1e-5, atol=1e-5)


def test_every_token_goes_to_exactly_k_distinct_experts():
    torch.manual_seed(1)
    moe = MoEFeedForward(4, 8, n_experts=6, k=2)
    moe(torch.randn(7, 3, 4))
    chosen = moe.last_experts
    assert chosen.shape == (21, 2)
    assert all(len(set(row.tolist())) == 2 for row in chosen)
    assert chosen.min() >= 0 and chosen.max() < 6


def test_an_unchosen_expert_does_not_touch_a_token():
    torch.manual_seed(2)
    moe = MoEFeedForward(4, 8, n_experts=4, k=1)
    x = torch.randn(1, 4)
    before = moe(x)
    (e,) = moe.last_experts[0].tolist()
    other = (e + 1) % 4
    with torch.no_grad():
        moe.w1[other].add_(10.0)
    torch.testing.assert_close(moe(x), before)
    with torch.no_grad():
        moe.w1[e].add_(10.0)
    assert not torch.allclose(moe(x), before)


def test_balance_loss_is_one_for_a_uniform_router_and_finite():
    moe = MoEFeedForward(4, 8, n_experts=4, k=2)
    torch.nn.init.zeros_(moe.router.weight)
    moe(torch.randn(16, 4))
    assert torch.isfinite(moe.aux_loss) and moe.aux_loss.item() == pytest.approx(1.0)


def test_balance_loss_is_one_when_assignments_are_balanced():
    """Balanced dispatch (f_e = 1/E) gives 1 whatever the probabilities are."""
    moe = MoEFeedForward(2, 4, n_experts=2, k=1)
    with torch.no_grad():
        moe.router.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 3.0]]))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 0.5]])
    moe(x)
    assert sorted(moe.last_experts.flatten().tolist()) == [0, 0, 1, 1]
    assert moe.aux_loss.item() == pytest.approx(1.0)


def test_balance_loss_follows_the_switch_formula():
    torch.manual_seed(3)
    moe = MoEFeedForward(5, 8, n_experts=4, k=2)
    torch.nn.init.normal_(moe.router.weight, std=2.0)
    x = torch.randn(12, 5)
    moe(x)
    probs = torch.softmax(x @ moe.router.weight.T, dim=-1)
    top = probs.topk(2, dim=-1).indices
    f = torch.stack([(top == e).sum() for e in range(4)]).float() / top.numel()
    expected = 4 * (f * probs.mean(0)).sum()
    assert moe.aux_loss.item() == pytest.approx(expected.item(), rel=1e-5)
    moe.aux_loss.backward()  # differentiable through the router probabilities
    assert moe.router.weight.grad.abs().sum() > 0


def test_balance_loss_grows_when_one_expert_takes_everything():
    moe = MoEFeedForward(2, 4, n_experts=4, k=1)
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.router.weight[0, 0] = 50.0
    moe(torch.rand(10, 2) + 1.0)  # positive first feature: expert 0, with certainty
    assert moe.aux_loss.item() == pytest.approx(4.0, rel=1e-3)


def test_masked_tokens_stay_out_of_the_balance_statistics():
    torch.manual_seed(4)
    moe = MoEFeedForward(3, 4, n_experts=3, k=1)
    x = torch.randn(6, 3)
    mask = torch.tensor([True, True, True, False, False, False])
    moe(x, mask)
    masked = moe.aux_loss.item()
    moe(x[:3])
    assert masked == pytest.approx(moe.aux_loss.item())


def test_k_above_the_number_of_experts_is_an_error():
    with pytest.raises(BiozooError, match="1 <= k <= n_experts"):
        MoEFeedForward(4, 8, n_experts=2, k=3)


# ---- the encoder ----


def test_moe_encoder_is_registered_with_a_matching_config():
    cls = ENCODERS.get("moe")
    assert cls.stackable is False and cls.reads == (TableInput,)
    sig = inspect.signature(cls.__init__).parameters
    options = {n: p.default for n, p in sig.items() if n not in ("self", "input")}
    assert cls.Config().model_dump() == options
    with pytest.raises(ValueError, match="must not exceed"):
        cls.Config(k=5, n_experts=4)


def test_moe_encoder_contract():
    torch.manual_seed(0)
    enc = ENCODERS.get("moe")(
        TableInput(12), width=8, depth=2, expert_hidden=8, out_dim=3, dropout=0.0
    )
    assert enc.aux_loss() is None
    x = torch.randn(4, 12, requires_grad=True)
    z = enc(x)
    assert z.shape == (4, 3) and torch.isfinite(z).all()
    aux = enc.aux_loss()
    assert aux.item() == pytest.approx(0.01 * sum(b.aux_loss.item() for b in enc.blocks))
    (z.pow(2).sum() + aux).backward()
    assert x.grad.abs().sum() > 0
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    mask = torch.tensor([True, False, True, False])
    z = enc.eval()(torch.randn(4, 12), mask)
    assert torch.all(z[~mask] == 0) and torch.any(z[mask] != 0)


def test_moe_encoder_reset_is_deterministic():
    enc = ENCODERS.get("moe")(TableInput(5), width=8, expert_hidden=8)
    torch.manual_seed(1)
    enc.reset_parameters()
    a = [p.clone() for p in enc.parameters()]
    torch.manual_seed(1)
    enc.reset_parameters()
    assert all(torch.equal(x, y) for x, y in zip(a, enc.parameters(), strict=True))


def test_models_with_moe_train_as_a_loop_ensemble(tiny_files, tmp_path):
    from tests.conftest import tiny_raw

    import biozoo

    raw = tiny_raw(tiny_files, baselines=[])
    raw["models"] = {
        "moe": {
            "encoders": {
                "rna": {"name": "moe", "width": 8, "expert_hidden": 8, "out_dim": 4, "depth": 1}
            }
        }
    }
    raw["training"].update(epochs=2, ensemble=2, split={"kind": "holdout", "repeats": 1})
    cfg = biozoo.parse_config(raw)
    spec = cfg.models["moe"]
    from biozoo.model import build_model

    ens = make_ensemble(
        lambda: build_model(spec, {"clinical": 4, "rna": 30, "meth": 40}, 1), [0, 1]
    )
    assert isinstance(ens, LoopEnsemble)
    result = biozoo.run(cfg, out_dir=tmp_path)
    assert list(result.leaderboard["method"]) == ["moe"]
    assert 0.0 <= result.leaderboard["roc_auc_mean"].iloc[0] <= 1.0
