"""Attributions: shapes, completeness, the explained output, recovery, ranking, precision."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from biozoo.config import ModelConfig
from biozoo.data.spec import PartSpec
from biozoo.encoders.mlp import MLPEncoder
from biozoo.errors import BiozooError
from biozoo.explain.attributions import (
    attribute_tables,
    precision_at_k,
    rank_features,
    resolve_method,
)
from biozoo.fusion import ConcatFusion
from biozoo.heads import BinaryHead
from biozoo.inputs import TableInput
from biozoo.model import MultiModalModel, _output_layer, build_model
from biozoo.tasks import TASKS

DIMS = {"a": 6, "b": 4}
N_CLASSES = {"binary": 2, "multiclass": 3, "regression": None}


def _model(fusion="concat", task="binary", seed=0, activation="relu"):
    torch.manual_seed(seed)
    enc = PartSpec(name="mlp", hidden=[8], out_dim=4, activation=activation, dropout=0.0)
    spec = ModelConfig(default_encoder=enc, fusion=PartSpec(name=fusion))
    if fusion == "early":
        spec = ModelConfig(fusion=PartSpec(name="early", encoder={"name": "mlp", "hidden": [8]}))
    head = TASKS.get(task)().head(N_CLASSES[task])
    return build_model(spec, DIMS, head.n_outputs).eval(), head


def _inputs(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = {k: torch.randn(n, d, generator=g) for k, d in DIMS.items()}
    present = {k: torch.ones(n, dtype=torch.bool) for k in DIMS}
    present["b"][0] = False  # sample 0 lacks modality b: zero input, zero embedding
    x["b"][0] = 0.0
    return x, present


def _scalar(model, x, present, head, y=None):
    """The explained output computed directly (no Captum)."""
    with torch.no_grad():
        out = head.explained(*model(x, present))
    return out if y is None else out.gather(1, y[:, None])[:, 0]


@pytest.mark.parametrize("fusion", ["concat", "late", "early"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_shapes_per_modality_and_absent_samples_get_nothing(fusion, task):
    model, head = _model(fusion, task)
    x, present = _inputs()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    res = attribute_tables(model, x, present, head=head, target=y, n_steps=8)
    assert {k: tuple(v.shape) for k, v in res.values.items()} == {"a": (6, 6), "b": (6, 4)}
    assert torch.isfinite(res.values["a"]).all()
    assert res.values["b"][0].abs().max() == 0.0
    assert res.values["a"].abs().sum() > 0 and res.skipped == {}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("fusion", ["concat", "late"])
def test_integrated_gradients_are_complete(fusion, task):
    """Summed over every feature: output(x) - output(zero baseline), computed independently."""
    model, head = _model(fusion, task, activation="gelu")
    x, present = _inputs()
    y = torch.tensor([2, 1, 0, 0, 1, 2])
    res = attribute_tables(model, x, present, head=head, target=y, n_steps=64)
    total = res.values["a"].sum(1) + res.values["b"].sum(1)
    zeros = {k: torch.zeros_like(v) for k, v in x.items()}
    target = y if task == "multiclass" else None
    change = _scalar(model, x, present, head, target)
    change = change - _scalar(model, zeros, present, head, target)
    assert change.abs().min() > 1e-3  # the check is not vacuous
    torch.testing.assert_close(total, change, atol=2e-3, rtol=1e-2)
    torch.testing.assert_close(res.delta, total - change, atol=1e-4, rtol=0)


def test_deeplift_sums_exactly_and_gradient_shap_runs():
    model, head = _model("concat", "binary")
    x, present = _inputs()
    zeros = {k: torch.zeros_like(v) for k, v in x.items()}
    change = _scalar(model, x, present, head) - _scalar(model, zeros, present, head)
    dl = attribute_tables(model, x, present, head=head, method="deeplift")
    torch.testing.assert_close(dl.values["a"].sum(1) + dl.values["b"].sum(1), change)
    shap = attribute_tables(model, x, present, head=head, method="gradient_shap")
    again = attribute_tables(model, x, present, head=head, method="gradient_shap")
    assert shap.delta is None and torch.equal(shap.values["a"], again.values["a"])  # seeded


@pytest.mark.parametrize("fusion", ["concat", "late"])
def test_explained_output_is_the_heads_log_odds(fusion):
    x, present = _inputs()
    model, head = _model(fusion, "binary")
    with torch.no_grad():
        out, view_mask = model(x, present)
        p = head(out, view_mask).prediction
        logit = head.explained(out, view_mask)
    torch.testing.assert_close(logit, torch.log(p[:, 1] / p[:, 0]))
    if fusion == "concat":
        torch.testing.assert_close(logit, out[:, 0, 0])  # one view: the raw logit
    model, head = _model(fusion, "multiclass")
    with torch.no_grad():
        out, view_mask = model(x, present)
        p = head(out, view_mask).prediction
        odds = head.explained(out, view_mask)
    torch.testing.assert_close(odds, torch.log(p / (1 - p)))


def test_an_informative_feature_dominates():
    """y depends on feature a[2] only: it must get by far the largest attribution."""
    g = torch.Generator().manual_seed(0)
    x = {k: torch.randn(256, d, generator=g) for k, d in DIMS.items()}
    present = {k: torch.ones(256, dtype=torch.bool) for k in DIMS}
    y = (x["a"][:, 2] + 0.2 * torch.randn(256, generator=g) > 0).float()
    model, head = _model("concat", "binary")
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    model.train()
    for _ in range(150):
        opt.zero_grad()
        logit = model(x, present)[0][:, 0, 0]
        nn.functional.binary_cross_entropy_with_logits(logit, y).backward()
        opt.step()
    model.eval()
    test = {k: v[:64] for k, v in x.items()}
    res = attribute_tables(model, test, {k: v[:64] for k, v in present.items()}, head=head)
    mean_abs = torch.cat([res.values["a"], res.values["b"]], dim=1).abs().mean(0)
    order = mean_abs.argsort(descending=True)
    assert order[0] == 2 and mean_abs[2] > 3 * mean_abs[order[1]]


class _TokenEncoder(nn.Module):
    """A stand-in for a non-table encoder (tokens + mask)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 3)
        self.out_dim = 3

    def forward(self, x, mask=None):
        z = (self.emb(x["tokens"]) * x["mask"].unsqueeze(-1)).mean(1)
        return z if mask is None else z * mask.unsqueeze(-1)


def test_non_table_modalities_are_held_fixed_and_reported():
    torch.manual_seed(0)
    encoders = {
        "a": MLPEncoder(TableInput(6), hidden=[8], out_dim=4, dropout=0.0),
        "tok": _TokenEncoder(),
    }
    fusion = ConcatFusion({"a": 4, "tok": 3}, _output_layer(ModelConfig().head, 1))
    model = MultiModalModel(encoders, fusion, ["a", "tok"]).eval()
    x = {
        "a": torch.randn(5, 6),
        "tok": {"tokens": torch.randint(1, 10, (5, 7)), "mask": torch.ones(5, 7, dtype=bool)},
    }
    present = {k: torch.ones(5, dtype=torch.bool) for k in x}
    head = BinaryHead()
    res = attribute_tables(model, x, present, head=head, n_steps=64, batch_size=2)
    assert list(res.values) == ["a"] and "tok" in res.skipped
    with_a = _scalar(model, x, present, head)
    without = _scalar(model, {**x, "a": torch.zeros(5, 6)}, present, head)
    torch.testing.assert_close(res.values["a"].sum(1), with_a - without, atol=2e-3, rtol=1e-2)


def test_rank_features_by_hand():
    """f1 dropped by split s2's selection counts as zero there."""
    abs_by = {
        "s1": pd.Series({"f0": 1.0, "f1": 4.0, "f2": 2.5}),
        "s2": pd.Series({"f0": 2.0, "f2": 1.0}),
    }
    signed = {
        "s1": pd.Series({"f0": -1.0, "f1": 3.0, "f2": 0.0}),
        "s2": pd.Series({"f0": 1.0, "f2": -1.0}),
    }
    table, agreement = rank_features(abs_by, signed, top=1)
    assert table["feature"].tolist() == ["f1", "f2", "f0"]
    assert table["rank"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(table["mean_abs_attribution"], [2.0, 1.75, 1.5])
    np.testing.assert_allclose(table["sd_abs_attribution"], [8**0.5, 1.5 / 2**0.5, 0.5**0.5])
    np.testing.assert_allclose(table["mean_attribution"], [1.5, -0.5, 0.0])
    np.testing.assert_allclose(table["top1_frequency"], [0.5, 0.0, 0.5])
    assert table["n_splits_selected"].tolist() == [1, 2, 2]
    # ranks in s1: f0 1, f1 3, f2 2; in s2: f0 3, f1 1, f2 2 -> Spearman -1
    assert agreement == pytest.approx(-1.0)


def test_precision_at_k_and_method_names():
    ranked = ["g1", "x", "g2", "y", "z"]
    assert precision_at_k(ranked, {"g1", "g2", "g9"}, 2) == 0.5
    assert precision_at_k(ranked, ["g1", "g2"], 5) == 0.4
    assert precision_at_k(ranked[:2], {"g1"}, 4) == 0.25  # too few ranked: misses
    with pytest.raises(BiozooError, match="k >= 1"):
        precision_at_k(ranked, {"g1"}, 0)
    assert resolve_method("ig") == "integrated_gradients"
    assert resolve_method("gradient-shap") == "gradient_shap"
    with pytest.raises(BiozooError, match="unknown attribution method 'lime'"):
        resolve_method("lime")
