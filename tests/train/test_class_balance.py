"""Class weights, label smoothing and decision rules: the losses, the fitted rules, and a run
whose saved rule ``predict`` applies again."""

from __future__ import annotations

import typing

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score

import biozoo
from biozoo.config import FitOptions
from biozoo.errors import BiozooError
from biozoo.heads import BinaryHead, ClassHead, MulticlassHead, RegressionHead
from biozoo.train.class_balance import balanced_weights, fit_decision, loss_head
from biozoo.train.decision import DECISIONS, decided, macro_f1, rule_from_state


def _outputs(b=6, c=3):
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, 1, c, generator=g), torch.ones(b, 1, dtype=torch.bool)


def test_decision_names_in_the_config_are_the_registered_rules():
    names = typing.get_args(FitOptions.model_fields["decision"].annotation)
    assert sorted(names) == sorted(DECISIONS.names())


def test_balanced_weights_follow_sklearn_and_mean_one_over_rows():
    y = np.array([0, 0, 0, 0, 1, 1, 2])
    w = balanced_weights(y, 4)
    np.testing.assert_allclose(w[:3], [7 / 12, 7 / 6, 7 / 3])
    assert w[3] == 1.0  # a class with no row
    assert np.isclose(w[y].mean(), 1.0)


def test_weighted_smoothed_multiclass_loss_is_torchs_cross_entropy():
    out, mask = _outputs()
    y = torch.tensor([0, 1, 2, 0, 0, 1])
    w = torch.tensor([0.5, 1.0, 3.0])
    head = MulticlassHead(3).with_loss(class_weight=w, label_smoothing=0.2)
    expected = F.cross_entropy(out[:, 0], y, weight=w, label_smoothing=0.2, reduction="none")
    assert torch.allclose(head(out, mask, y).loss, expected.mean())
    plain = MulticlassHead(3)(out, mask, y)
    assert torch.allclose(plain.loss, F.cross_entropy(out[:, 0], y))
    # the prediction does not depend on the loss options
    assert torch.equal(head(out, mask).prediction, plain.prediction)


def test_binary_weights_scale_each_rows_loss_and_smoothing_moves_targets():
    out, mask = _outputs(c=1)
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    head = BinaryHead().with_loss(class_weight=torch.tensor([1.0, 4.0]), label_smoothing=0.1)
    target = y.float() * 0.9 + 0.05
    per = F.binary_cross_entropy_with_logits(out[:, 0, 0], target, reduction="none")
    expected = (per * torch.where(y == 1, 4.0, 1.0)).mean()
    assert torch.allclose(head(out, mask, y).loss, expected)
    assert isinstance(head, ClassHead) and not isinstance(RegressionHead(), ClassHead)


def test_class_options_on_a_task_without_classes_are_one_sentence():
    with pytest.raises(BiozooError, match="training.class_weight needs a classification task"):
        loss_head(RegressionHead(), FitOptions(class_weight="balanced"), np.zeros(3))
    with pytest.raises(BiozooError, match="training.decision needs a classification task"):
        fit_decision(
            RegressionHead(),
            FitOptions(decision="thresholds"),
            y_val=np.zeros(3),
            p_val=np.zeros((3, 1)),
            y_fit=np.zeros(3),
        )
    head = MulticlassHead(3)
    assert loss_head(head, FitOptions(), np.zeros(3)) is head  # defaults: the head itself


def test_macro_f1_matches_sklearn():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    assert np.isclose(macro_f1(y, p, 4), f1_score(y, p, average="macro", labels=range(4)))


def _imbalanced(n=300, seed=0):
    """A model that under-calls class 2 (rare): its probability is shrunk by 4."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[y]
    p = np.exp(logits) * [1.0, 1.0, 0.25]
    return y, p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("name", ["prior_correction", "thresholds"])
def test_fitted_rules_raise_validation_macro_f1_and_survive_a_round_trip(name):
    y, p = _imbalanced(1000)
    rule = DECISIONS.get(name)().fit(y, p, y_fit=y)
    before = macro_f1(y, p.argmax(1), 3)
    q = rule.apply(p)
    assert macro_f1(y, q.argmax(1), 3) > before
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert q[:, 2].mean() > p[:, 2].mean()  # the rare class is called more often
    again = rule_from_state(rule.state())
    np.testing.assert_allclose(again.apply(p), q)
    y2, p2 = _imbalanced(2000, seed=1)  # and it carries to new rows drawn alike
    assert macro_f1(y2, rule.apply(p2).argmax(1), 3) > macro_f1(y2, p2.argmax(1), 3)


def test_argmax_and_no_rule_leave_predictions_untouched():
    _, p = _imbalanced(20)
    assert decided({}, p) is p
    rule = DECISIONS.get("argmax")().fit(np.zeros(20), p, np.zeros(20))
    assert rule.apply(p) is p and rule_from_state(None).apply(p) is p


def test_a_run_saves_its_rule_and_predict_applies_it(tiny_files, tmp_path):
    from tests.conftest import tiny_raw

    raw = tiny_raw(tiny_files, baselines=[])
    raw["models"] = {"multimodule": raw["models"]["multimodule"]}
    raw["training"].update(
        class_weight="balanced", label_smoothing=0.1, decision="thresholds", ensemble=2
    )
    raw["training"]["split"] = {"kind": "holdout", "repeats": 1}
    result = biozoo.run(biozoo.parse_config(raw), out_dir=tmp_path)
    recorded = pd.read_csv(result.path / "predictions.csv", dtype={"sample_id": str})
    recorded = recorded[recorded["method"] == "multimodule"].set_index("sample_id")
    sources = {m: tiny_files[m] for m in ("clinical", "rna", "meth")}
    preds = biozoo.predict(result.path, sources, split="0").set_index("sample_id")
    rows = preds.loc[recorded.index]
    np.testing.assert_allclose(rows["p_1"], recorded["p_1"], atol=1e-6)
    assert (rows["y_pred"].astype(str) == recorded["y_pred"].astype(str)).all()
    from biozoo.train.saved_run import SavedRun

    meta = SavedRun(result.path).split("h0", "multimodule").meta
    assert meta["decision"]["name"] == "thresholds" and len(meta["decision"]["weights"]) == 2
