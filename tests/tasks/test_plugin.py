"""A task defined and registered inside this test runs a whole experiment: config -> cohort ->
splits -> transforms -> deep ensemble and baselines -> leaderboard -> run folder -> predict,
with no edit anywhere in biozoo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import PoissonRegressor

from biozoo.api import predict
from biozoo.api import run as train
from biozoo.config import parse_config
from biozoo.errors import BiozooError
from biozoo.heads import HeadOutput, ValueHead, view_mean
from biozoo.tasks import TASKS, EncodedTarget, Task


class PoissonHead(ValueHead):
    """One log-rate per view; Poisson negative log-likelihood; rates ``[B]``."""

    def __init__(self) -> None:
        super().__init__()
        self.n_outputs = 1

    def forward(self, outputs, view_mask, y=None) -> HeadOutput:
        log_rate = view_mean(outputs[..., 0], view_mask)
        loss = None if y is None else F.poisson_nll_loss(log_rate, y, log_input=True)
        return HeadOutput(torch.exp(log_rate), loss)


class _Fitted:
    def __init__(self, model) -> None:
        self.model = model

    def predict(self, X):
        return self.model.predict(X)


class CountTask(Task):
    """Counts, a Poisson head, mean Poisson deviance."""

    name = "count"
    metric_names = ("deviance",)
    primary = "deviance"
    higher_is_better = {"deviance": False}
    baseline_labels = {"linear": "poisson GLM"}

    def encode_target(self, labels, options, source) -> EncodedTarget:
        values = pd.to_numeric(labels[options.columns()[0]], errors="coerce")
        if values.isna().any() or (values < 0).any():
            raise BiozooError(f"count target of {source} must be non-negative numbers.")
        return EncodedTarget(values.to_numpy(np.float32))

    def n_outputs(self, n_classes):
        return 1

    def head(self, n_classes):
        return PoissonHead()

    def stratify_labels(self, target):
        return None

    def ranking_target(self, target):
        from biozoo.tasks import RankingTarget

        return RankingTarget(target - target.mean(), grouped=False)

    def metrics(self, y_true, prediction, *, n_classes=None, reference=None):
        y, mu = np.asarray(y_true, np.float64), np.maximum(prediction, 1e-9)
        term = np.where(y > 0, y * np.log(np.maximum(y, 1e-9) / mu), 0.0)
        return {"deviance": float(np.mean(2 * (term - (y - mu))))}

    def prediction_columns(self, y_true, prediction, *, classes=None, reference=None):
        columns = {} if y_true is None else {"count": y_true}
        return {**columns, "rate": prediction}

    def baseline(self, family, X, y, *, n_classes=None, seed=0, n_jobs=1):
        self.baseline_label(family)
        return _Fitted(PoissonRegressor(alpha=1e-3, max_iter=500).fit(X, y))


@pytest.fixture
def count_task(monkeypatch):
    """CountTask registered for this test only."""
    monkeypatch.setitem(TASKS._items, "count", CountTask)
    return CountTask


def test_a_task_registered_in_a_test_runs_a_whole_experiment(count_task, tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    x = rng.normal(size=(n, 4))
    counts = rng.poisson(np.exp(0.5 + 0.8 * x[:, 0]))
    ids = [f"s{i}" for i in range(n)]
    pd.DataFrame(x, index=pd.Index(ids, name="sample_id"), columns=list("abcd")).to_csv(
        tmp_path / "x.csv"
    )
    pd.DataFrame({"sample_id": ids, "n": counts}).to_csv(tmp_path / "y.csv", index=False)
    cfg = parse_config(
        {
            "name": "counts",
            "data": {
                "modalities": {"x": {"path": str(tmp_path / "x.csv")}},
                "target": {"path": str(tmp_path / "y.csv"), "column": "n", "task": "count"},
            },
            "models": {"mlp": {"default_encoder": {"name": "mlp", "hidden": [8]}}},
            "training": {"epochs": 30, "ensemble": 2, "batch_size": 16, "lr": 0.01},
            "baselines": ["linear"],
            "output": {"dir": str(tmp_path / "runs")},
        }
    )
    result = train(cfg)
    board = result.leaderboard
    assert set(board["method"]) == {"mlp", "poisson GLM"}
    assert list(board.columns[-2:]) == ["deviance_mean", "deviance_sd"]
    assert board["deviance_mean"].iloc[0] <= board["deviance_mean"].iloc[1]  # best first
    preds = pd.read_csv(result.path / "predictions.csv")
    assert {"count", "rate"} <= set(preds.columns) and (preds["rate"] > 0).all()
    new = predict(result.path, {"x": tmp_path / "x.csv"}, model="mlp")
    assert list(new.columns) == ["sample_id", "model", "split", "rate"] and len(new) == n
    with pytest.raises(BiozooError, match="baseline 'random_forest' has no estimator"):
        train(cfg.model_copy(update={"baselines": ["random_forest"]}))
