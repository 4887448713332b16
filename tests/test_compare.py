"""The corrected resampled t-test, win counts and the paired summary, checked by hand."""

from __future__ import annotations

import json
import math

import pytest

from biozoo.compare import corrected_t, paired_summary, wins

# the demo's ROC AUC per split (repeated hold-out, 5 x 20%): n_train 238, n_test 60
GB = [0.677, 0.618, 0.723, 0.548, 0.618]
MLP = [0.576, 0.747, 0.624, 0.564, 0.656]
T_975_DOF4 = 2.7764451051977987  # Student t, 97.5% quantile, 4 degrees of freedom


def test_corrected_t_matches_a_hand_computation():
    d = [m - g for m, g in zip(MLP, GB, strict=True)]  # -0.101 .129 -.099 .016 .038
    mean = sum(d) / 5
    var = sum((x - mean) ** 2 for x in d) / 4
    se = math.sqrt((1 / 5 + 60 / 238) * var)  # Nadeau-Bengio: 1/J + n_test/n_train
    got = corrected_t(d, [238] * 5, [60] * 5)
    assert got.mean == pytest.approx(-0.0034)
    assert got.sd == pytest.approx(math.sqrt(var))
    assert got.t == pytest.approx(mean / se)
    assert got.low == pytest.approx(mean - T_975_DOF4 * se)
    assert got.high == pytest.approx(mean + T_975_DOF4 * se)
    assert (got.dof, got.n_splits) == (4, 5)
    assert got.test_train_ratio == pytest.approx(60 / 238)
    assert not got.outside_noise
    # the uncorrected interval would be narrower by sqrt(1/J) / sqrt(1/J + ratio)
    assert got.high - got.low > 2 * T_975_DOF4 * math.sqrt(var / 5)


def test_cross_validation_uses_the_fold_ratio_and_a_clear_difference_is_outside_noise():
    d = [0.10, 0.12, 0.11, 0.09, 0.13, 0.10]  # 3-fold x 2: n_test / n_train = 1/2
    got = corrected_t(d, [40] * 6, [20] * 6)
    mean, var = sum(d) / 6, sum((x - sum(d) / 6) ** 2 for x in d) / 5
    assert got.t == pytest.approx(mean / math.sqrt((1 / 6 + 0.5) * var))
    assert got.outside_noise and got.p < 0.001


def test_degenerate_inputs():
    one = corrected_t([0.2], [10], [5])
    assert one.mean == 0.2 and math.isnan(one.low) and not one.outside_noise
    flat = corrected_t([0.25, 0.25, 0.25], [10] * 3, [5] * 3)
    assert (flat.low, flat.high) == (0.25, 0.25) and flat.outside_noise
    assert corrected_t([0.1, math.nan, 0.3], [10] * 3, [5] * 3).n_splits == 2
    with pytest.raises(ValueError, match="differences"):
        corrected_t([0.1, 0.2], [10], [5])


def test_wins_follow_the_metric_direction():
    assert wins(MLP, GB, higher_is_better=True) == (3, 2, 0)
    assert wins(MLP, GB, higher_is_better=False) == (2, 3, 0)
    assert wins([1.0, 2.0, math.nan], [1.0, 1.0, 0.0], higher_is_better=True) == (1, 0, 1)


def test_paired_summary_compares_each_deep_model_with_the_best_baseline():
    rows = lambda xs: [{"roc_auc": x} for x in xs]  # noqa: E731
    per_split = {
        "logistic": rows([0.60, 0.68, 0.69, 0.59, 0.59]),
        "gradient boosting": rows(GB),
        "mlp": rows(MLP),
        "bad": rows([0.40, 0.45, 0.42, 0.41, 0.44]),
    }
    kinds = {"logistic": "baseline", "gradient boosting": "baseline", "mlp": "deep", "bad": "deep"}
    out = paired_summary(
        per_split, kinds, [(238, 60)] * 5, metric="roc_auc", higher_is_better=True, label="ROC AUC"
    )
    assert out["reference"] == "gradient boosting" and out["best_deep"] == "mlp"
    assert list(out["comparisons"]) == ["mlp", "bad"]
    mlp = out["comparisons"]["mlp"]
    ref = corrected_t([m - g for m, g in zip(MLP, GB, strict=True)], [238] * 5, [60] * 5)
    assert (mlp["mean"], mlp["low"], mlp["high"]) == (ref.mean, ref.low, ref.high)
    assert (mlp["wins"], mlp["losses"], mlp["ties"]) == (3, 2, 0)
    assert out["comparisons"]["bad"]["outside_noise"] is True
    low, high = (f"{x:+.3f}".replace("-", "−") for x in (ref.low, ref.high))
    assert out["verdict"] == (
        "best deep vs best baseline (mlp vs gradient boosting): Δ ROC AUC −0.003 "
        f"[{low}, {high}], within split-to-split noise; mlp wins 3 of 5 splits"
    )
    json.dumps(out, allow_nan=False)  # strict JSON


def test_paired_summary_for_lower_is_better_and_missing_kinds():
    per_split = {"ridge": [{"rmse": 1.0}, {"rmse": 1.2}], "net": [{"rmse": 2.0}, {"rmse": 2.1}]}
    out = paired_summary(
        per_split,
        {"ridge": "baseline", "net": "deep"},
        [(8, 2)] * 2,
        metric="rmse",
        higher_is_better=False,
    )
    net = out["comparisons"]["net"]
    assert (net["wins"], net["losses"]) == (0, 2) and net["mean"] == pytest.approx(0.95)
    none = paired_summary(
        {"ridge": per_split["ridge"]},
        {"ridge": "baseline"},
        [(8, 2)] * 2,
        metric="rmse",
        higher_is_better=False,
    )
    assert none["comparisons"] == {} and none["verdict"] == (
        "no paired comparison: the run has no deep model"
    )
