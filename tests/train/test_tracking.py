"""MLflow tracking (output.mlflow) against a local file store, read back with MlflowClient."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
import yaml
from tests.conftest import tiny_raw
from typer.testing import CliRunner

from biozoo import api
from biozoo.cli import app
from biozoo.errors import BiozooError
from biozoo.train.tracking import flatten, metric_key

pytest.importorskip("mlflow", reason="mlflow is the optional 'track' extra")


def small_raw(files, tmp_path, uri):
    output = {"mlflow": uri, "dir": str(tmp_path / "runs"), "latents": False}
    raw = tiny_raw(files, output=output)
    raw["models"] = {"mlp": {}}
    raw["training"] |= {"epochs": 3, "split": {"kind": "kfold", "folds": 2}}
    return raw


def test_a_run_is_logged_with_params_per_split_metrics_curves_and_report(
    tiny_files, tmp_path, monkeypatch
):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps file stores opt-in
    uri = (tmp_path / "mlruns").as_uri()
    result = api.run(api.parse_config(small_raw(tiny_files, tmp_path, uri)))

    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == result.path.name
    assert run.data.tags["biozoo.run_folder"] == str(result.path)
    assert run.data.params["training.epochs"] == "3"
    assert run.data.params["output.mlflow"] == uri
    # per-split metrics, one step per split, equal to metrics.json
    metrics = json.loads((result.path / "metrics.json").read_text())
    for method, per_split in metrics["per_split"].items():
        steps = client.get_metric_history(run.info.run_id, metric_key(method, "roc_auc"))
        assert [(m.step, m.value) for m in steps] == [
            (i, pytest.approx(s["roc_auc"])) for i, s in enumerate(per_split)
        ]
        mean = metrics["summary"][method]["roc_auc"]["mean"]
        assert run.data.metrics[metric_key(method, "roc_auc_mean")] == pytest.approx(mean)
    # training curves: the members' mean loss per epoch, the epoch as the step
    history = pd.read_csv(result.path / "history" / "mlp" / "r0-f0.csv")
    curve = client.get_metric_history(run.info.run_id, "history/mlp/r0-f0/val_loss")
    expected = history.groupby("epoch")["val_loss"].mean()
    assert [m.step for m in curve] == list(expected.index)
    assert [m.value for m in curve] == pytest.approx(list(expected))
    # the report and the run's tables as artifacts
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "metrics.json", "leaderboard.csv", "config.yaml", "history"} <= names


def test_metric_keys_and_params_are_what_mlflow_accepts():
    assert metric_key("logistic/ridge (CV)", "roc_auc") == "logistic_ridge _CV_/roc_auc"
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {
        "a.b": "1",
        "a.c": "[1, 2]",
        "d": "None",
    }


def test_output_mlflow_without_mlflow_installed_is_one_sentence_before_training(
    tiny_files, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(small_raw(tiny_files, tmp_path, "http://localhost:5000")))
    res = CliRunner().invoke(app, ["train", str(path)])
    assert res.exit_code == 2
    assert "mlflow is not installed" in res.output and "biozoo[track]" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing written


def test_a_refused_tracking_uri_fails_before_training(tmp_path, monkeypatch):
    from biozoo.train.tracking import MlflowTracker

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(BiozooError, match=r"^output\.mlflow file://.*\.$"):
        MlflowTracker((tmp_path / "mlruns").as_uri(), "x")
