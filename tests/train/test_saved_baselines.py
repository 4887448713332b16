"""Saved baselines: skops round trips for every baseline and task, and untrusted types refused."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from typer.testing import CliRunner

import biozoo.train.saved_baselines as saved_baselines
from biozoo.cli import app
from biozoo.errors import BiozooError
from biozoo.tasks import TASKS
from biozoo.train.baselines import BASELINES
from biozoo.train.saved_baselines import baseline_bytes, load_baseline, save_baseline

runner = CliRunner()


def _target(task: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if task == "binary":
        return np.arange(n) % 2
    if task == "multiclass":
        return np.arange(n) % 3
    if task == "regression":
        return rng.normal(size=n)
    return np.stack([rng.exponential(size=n) + 0.1, np.arange(n) % 2], axis=1)  # time, event


CASES = [
    (task, name)
    for task in ("binary", "multiclass", "regression", "survival")
    for name in BASELINES.names()
]


@pytest.mark.parametrize(("task", "name"), CASES)
def test_every_baseline_round_trips_through_skops_with_identical_predictions(
    task, name, tmp_path, monkeypatch
):
    from biozoo.tasks import estimators, survival_estimators

    # a forest of 5 trees is saved as one of 500 is: keep the test fast
    monkeypatch.setattr(estimators, "N_TREES", 5)
    monkeypatch.setattr(survival_estimators, "RSF_TREES", 5)
    rng = np.random.default_rng(0)
    X, X_new = rng.normal(size=(36, 4)), rng.normal(size=(7, 4))
    n_classes = 3 if task == "multiclass" else None
    fitted = BASELINES.get(name)(task=TASKS.get(task)(), seed=0)
    fitted.fit(X, _target(task, rng, 36), n_classes=n_classes)
    path = tmp_path / "h0.skops"
    save_baseline(path, fitted.model_)
    loaded = load_baseline(path)  # every type it holds is trusted
    np.testing.assert_array_equal(loaded.predict(X_new), fitted.predict(X_new))


def test_a_baseline_written_or_read_once_is_not_serialised_again(tmp_path, monkeypatch):
    from biozoo.tasks import estimators

    monkeypatch.setattr(estimators, "N_TREES", 5)
    rng = np.random.default_rng(0)
    fitted = BASELINES.get("random_forest")(task=TASKS.get("binary")(), seed=0)
    fitted.fit(rng.normal(size=(30, 4)), rng.integers(0, 2, 30), n_classes=None)
    first = baseline_bytes(fitted.model_)  # as a run unit's record writes it
    path = tmp_path / "h0.skops"
    path.write_bytes(first)
    loaded = load_baseline(path)
    calls = []
    monkeypatch.setattr(saved_baselines.sio, "dumps", lambda m: calls.append(m) or b"new")
    assert baseline_bytes(fitted.model_) == first  # the run folder's save: the same bytes
    assert baseline_bytes(loaded) == first  # read back (a resumed or a Dask unit)
    assert not calls
    other = BASELINES.get("random_forest")(task=TASKS.get("binary")(), seed=1)
    other.fit(rng.normal(size=(30, 4)), rng.integers(0, 2, 30), n_classes=None)
    assert baseline_bytes(other.model_) == b"new" and len(calls) == 1


class Evil:
    """A type no baseline is made of (it could run anything when built)."""

    def predict(self, X):
        return X


def test_a_file_with_an_untrusted_type_is_refused_unread(tmp_path):
    path = tmp_path / "h0.skops"
    sio.dump(Evil(), path)
    with pytest.raises(BiozooError, match="untrusted type '.*Evil'") as err:
        load_baseline(path)
    assert "\n" not in str(err.value)
    path.write_bytes(b"not a zip file")
    with pytest.raises(BiozooError, match="is damaged"):
        load_baseline(path)


def test_predict_with_a_saved_baseline_reproduces_the_runs_numbers(
    tiny_config, tiny_files, tmp_path
):
    out = tmp_path / "runs"
    res = runner.invoke(app, ["train", str(tiny_config), "--out", str(out)])
    assert res.exit_code == 0, res.output
    (run,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    saved = run / "models" / "baselines" / "linear" / "r0-f1.skops"
    assert saved.is_file()
    data = [f"{m}={tiny_files[m]}" for m in ("clinical", "rna", "meth")]
    board = pd.read_csv(run / "leaderboard.csv")
    (label,) = board.loc[board["kind"] == "baseline", "method"]
    old = pd.read_csv(run / "predictions.csv")
    old = old[(old["method"] == label) & (old["split"] == "r0-f1")].set_index("sample_id")
    assert len(old) == 20
    for method in ("linear", label):  # config name or leaderboard label
        res = runner.invoke(app, ["predict", str(run), *data, "--method", method, "--split", "1"])
        assert res.exit_code == 0, res.output
        new = pd.read_csv(io.StringIO(res.stdout)).set_index("sample_id")
        assert set(new["model"]) == {label}
        for col in ("p_0", "p_1"):
            np.testing.assert_allclose(new.loc[old.index, col], old[col], rtol=0, atol=1e-12)
        assert (new.loc[old.index, "y_pred"].astype(str) == old["y_pred"].astype(str)).all()

    res = runner.invoke(app, ["predict", str(run), *data, "--method", "svm"])
    assert res.exit_code == 2 and "has no method 'svm'" in res.output

    sio.dump(Evil(), saved)  # the file replaced by one that builds another type
    res = runner.invoke(app, ["predict", str(run), *data, "--method", "linear", "--split", "1"])
    assert res.exit_code == 2
    assert "untrusted type" in res.output and "Traceback" not in res.output
    assert res.output.count("error:") == 1
