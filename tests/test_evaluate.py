"""Metrics against hand-computed values on tiny arrays, their summary and the leaderboard."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.preprocessing import label_binarize

from biozoo.evaluate import format_mean_sd, leaderboard, summarize
from biozoo.tasks import TASKS


def compute_metrics(y_true, y_pred, *, task: str, n_classes: int | None = None):
    """The metrics of ``task`` (through its task object)."""
    return TASKS.get(task)().metrics(y_true, y_pred, n_classes=n_classes)


def test_metric_directions() -> None:
    binary, regression = TASKS.get("binary"), TASKS.get("regression")
    assert binary.higher_is_better["roc_auc"] and not regression.higher_is_better["rmse"]
    assert not binary.higher_is_better["log_loss"] and regression.higher_is_better["r2"]


def test_binary_metrics_by_hand() -> None:
    y = np.array([0, 0, 1, 1])
    p1 = np.array([0.1, 0.4, 0.35, 0.8])
    out = compute_metrics(y, np.column_stack([1 - p1, p1]), task="binary")
    assert list(out) == list(TASKS.get("binary").metric_names)
    # 3 of the 4 (positive, negative) pairs are ordered correctly
    assert out["roc_auc"] == pytest.approx(0.75)
    # ranking: pos, neg, pos, neg -> precision 1 at recall 1/2, 2/3 at recall 1
    assert out["pr_auc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # labels [0, 0, 0, 1]: recalls 1 and 1/2; F1 0.8 (class 0) and 2/3 (class 1)
    assert out["accuracy"] == pytest.approx(0.75)
    assert out["balanced_accuracy"] == pytest.approx(0.75)
    assert out["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    expected_ll = -(np.log(0.9) + np.log(0.6) + np.log(0.35) + np.log(0.8)) / 4
    assert out["log_loss"] == pytest.approx(expected_ll)


def test_multiclass_with_a_class_absent_from_y_true() -> None:
    y = np.array([0, 0, 2, 2])  # class 1 never occurs in this split
    proba = np.array(
        [[0.7, 0.2, 0.1], [0.3, 0.5, 0.2], [0.2, 0.2, 0.6], [0.5, 0.1, 0.4]],
    )
    out = compute_metrics(y, proba, task="multiclass", n_classes=3)
    # one-vs-rest over present classes: AUC 3/4 (class 0) and 1 (class 2)
    assert out["roc_auc"] == pytest.approx((0.75 + 1.0) / 2)
    # AP: class 0 ranks pos, neg, pos, neg -> 5/6; class 2 ranks both positives first -> 1
    assert out["pr_auc"] == pytest.approx((5 / 6 + 1.0) / 2)
    # labels [0, 1, 2, 0]: recalls 1/2 and 1/2; F1 1/2 (class 0) and 2/3 (class 2)
    assert out["accuracy"] == pytest.approx(0.5)
    assert out["balanced_accuracy"] == pytest.approx(0.5)
    assert out["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    expected_ll = -(np.log(0.7) + np.log(0.3) + np.log(0.6) + np.log(0.4)) / 4
    assert out["log_loss"] == pytest.approx(expected_ll)


def test_multiclass_all_present_matches_sklearn_ovr_macro() -> None:
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 1])
    proba = rng.dirichlet(np.ones(3), size=len(y))
    out = compute_metrics(y, proba, task="multiclass")
    assert out["roc_auc"] == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    assert out["pr_auc"] == pytest.approx(
        average_precision_score(label_binarize(y, classes=[0, 1, 2]), proba, average="macro")
    )


def test_one_class_split_gives_nan_ranking_metrics() -> None:
    y = np.array([1, 1, 1])
    proba = np.array([[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
    out = compute_metrics(y, proba, task="binary")
    assert math.isnan(out["roc_auc"]) and math.isnan(out["pr_auc"])
    assert out["accuracy"] == pytest.approx(2 / 3)
    out = compute_metrics(np.array([2, 2]), np.full((2, 3), 1 / 3), task="multiclass")
    assert math.isnan(out["roc_auc"])
    assert out["log_loss"] == pytest.approx(np.log(3))


def test_regression_metrics_by_hand() -> None:
    out = compute_metrics(np.array([1.0, 2, 3, 4]), np.array([1.0, 2, 3, 6]), task="regression")
    assert list(out) == ["rmse", "mae", "r2"]
    assert out["rmse"] == pytest.approx(1.0)  # sqrt(4 / 4)
    assert out["mae"] == pytest.approx(0.5)
    assert out["r2"] == pytest.approx(1 - 4 / 5)  # SS_res = 4, SS_tot = 5


@pytest.mark.parametrize(
    ("y", "pred", "kwargs", "match"),
    [
        ([0, 1], [0.2, 0.8], {"task": "binary"}, "shape"),
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], {"task": "binary", "n_classes": 3}, "n_classes"),
        ([0, 3], [[0.5, 0.5], [0.5, 0.5]], {"task": "binary"}, "outside"),
        ([0, 1], [[np.nan, 0.5], [0.5, 0.5]], {"task": "binary"}, "NaN"),
        ([0.0, 1.0], [0.1, 0.2, 0.3], {"task": "regression"}, "shape"),
    ],
)
def test_bad_inputs_raise(y: list, pred: list, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compute_metrics(np.array(y), np.array(pred), **kwargs)


def test_summarize_mean_sd_n_nan_aware() -> None:
    out = summarize([{"a": 1.0, "b": np.nan}, {"a": 3.0, "b": 2.0}, {"a": 5.0}])
    assert list(out) == ["a", "b"]
    assert out["a"] == {"mean": pytest.approx(3.0), "sd": pytest.approx(2.0), "n": 3}
    assert out["b"] == {"mean": pytest.approx(2.0), "sd": 0.0, "n": 1}


def test_summarize_one_split_and_all_nan() -> None:
    assert summarize([{"a": 0.7}])["a"] == {"mean": 0.7, "sd": 0.0, "n": 1}
    empty = summarize([{"a": np.nan}, {"a": np.nan}])["a"]
    assert math.isnan(empty["mean"]) and math.isnan(empty["sd"]) and empty["n"] == 0


def _splits(metric: str, *values: float) -> list[dict[str, float]]:
    return [{metric: v} for v in values]


def test_leaderboard_higher_is_better_with_ties_and_nan() -> None:
    results = {
        "mlp": _splits("roc_auc", 0.8, 0.9),
        "rf": _splits("roc_auc", 0.9, 0.9),
        "kan": _splits("roc_auc", 0.85, 0.85),
        "broken": _splits("roc_auc", np.nan, np.nan),
    }
    board = leaderboard(results, task=TASKS.get("binary"), kinds={"rf": "baseline", "mlp": "deep"})
    assert list(board["method"]) == ["rf", "kan", "mlp", "broken"]  # kan/mlp tie -> by name
    assert list(board["kind"]) == ["baseline", "", "deep", ""]
    assert list(board.columns[:3]) == ["method", "kind", "n_splits"]
    expected = [f"{m}_{s}" for m in TASKS.get("binary").metric_names for s in ("mean", "sd")]
    assert list(board.columns[3:]) == expected
    assert list(board.index) == [0, 1, 2, 3]
    assert board.loc[2, "roc_auc_mean"] == pytest.approx(0.85)
    assert board.loc[2, "roc_auc_sd"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert board["n_splits"].tolist() == [2, 2, 2, 2]
    assert math.isnan(board.loc[0, "log_loss_mean"])  # metric absent from results


def test_leaderboard_lower_is_better_and_no_kind_column() -> None:
    results = {
        "ridge": _splits("rmse", 1.0, 1.2),
        "mamba": _splits("rmse", 0.5, 0.7),
        "gbm": _splits("rmse", 0.9),
    }
    board = leaderboard(results, task=TASKS.get("regression"))
    assert list(board["method"]) == ["mamba", "gbm", "ridge"]
    assert "kind" not in board.columns
    assert board["n_splits"].tolist() == [2, 1, 2]
    assert board.loc[1, "rmse_sd"] == 0.0


def test_leaderboard_keeps_extra_metrics_after_task_metrics() -> None:
    board = leaderboard({"m": [{"rmse": 1.0, "c_index": 0.7}]}, task=TASKS.get("regression"))
    assert list(board.columns)[-2:] == ["c_index_mean", "c_index_sd"]


def test_format_mean_sd() -> None:
    assert format_mean_sd(0.66, 0.06) == "0.660 ± 0.060"
    assert format_mean_sd(1.23456, 0.1, digits=2) == "1.23 ± 0.10"
    assert format_mean_sd(0.5, float("nan")) == "0.500"
    assert format_mean_sd(float("nan"), 0.1) == "n/a"
