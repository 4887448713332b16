"""Survival end to end: config -> train -> leaderboard with the C-index and a Cox baseline ->
predictions with risk scores and Breslow survival -> predict -> report with Kaplan-Meier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biozoo.api import predict
from biozoo.api import run as train
from biozoo.config import parse_config
from biozoo.errors import BiozooError

pytestmark = pytest.mark.slow


def _config(tmp_path, **target):
    return parse_config(
        {
            "name": "gse7390-survival",
            "data": {
                "modalities": {
                    "gex": {"dataset": "gse7390/gex"},
                    "clin": {"dataset": "gse7390/clin"},
                },
                "target": {"dataset": "gse7390", "task": "survival", **target},
            },
            "models": {"mlp": {"default_encoder": {"name": "mlp", "hidden": [16]}}},
            "training": {
                "epochs": 8,
                "patience": 4,
                "ensemble": 2,
                "batch_size": 32,
                "split": {"kind": "kfold", "folds": 3},
            },
            "baselines": ["linear", "random_forest"],
            "output": {"dir": str(tmp_path), "attributions": True},
        }
    )


def test_survival_run_end_to_end(tmp_path):
    cfg = _config(tmp_path, time="t.tdm", event="e.tdm")
    result = train(cfg)
    board = result.leaderboard
    assert {"c_index_mean", "c_index_sd", "ibs_mean", "td_auc_mean"} <= set(board.columns)
    assert any("cox" in m for m in board["method"])
    assert set(board["method"]) == {"mlp", "penalised cox (CV)", "random survival forest"}
    means = board["c_index_mean"].to_numpy()
    assert np.all(np.diff(means) <= 1e-12)  # sorted by the C-index, best first
    assert means.max() > 0.6
    preds = pd.read_csv(result.path / "predictions.csv")
    assert {"time", "event", "risk", "surv_q50"} <= set(preds.columns)
    assert preds["surv_q50"].between(0, 1).all()
    page = (result.path / "report.html").read_text()
    assert "log-rank p = " in page
    summary = (result.path / "attributions" / "mlp" / "summary.json").read_text()
    assert "log-hazard ratio" in summary
    new = predict(result.path, cfg.data, model="mlp")
    assert list(new.columns) == ["sample_id", "model", "split", "risk"] and len(new) == 198


def test_survival_target_keys_are_the_tasks_own(tmp_path):
    with pytest.raises(BiozooError, match=r"data.target: event: field required"):
        _config(tmp_path, time="t.tdm")
    with pytest.raises(BiozooError, match=r"column: extra inputs"):
        _config(tmp_path, time="t.tdm", event="e.tdm", column="e.tdm")
    with pytest.raises(BiozooError, match=r"unknown task 'survivl'.*did you mean 'survival'"):
        parse_config(
            {
                "data": {
                    "modalities": {"a": {"path": "a.csv"}},
                    "target": {"path": "y.csv", "column": "y", "task": "survivl"},
                }
            }
        )


def test_the_survival_example_config_reads():
    from pathlib import Path

    from biozoo.config import load_config

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "examples" / "gse7390_survival.yaml")
    assert cfg.data.target.build_task().name == "survival"
    assert cfg.data.target.columns() == ["t.tdm", "e.tdm"]
