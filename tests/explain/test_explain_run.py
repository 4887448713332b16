"""``explain_run`` on a finished run folder: outputs, reuse, atomic writes and errors."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from tests.conftest import tiny_raw

import biozoo
import biozoo.explain.explain_run as explain_module
from biozoo.errors import BiozooError
from biozoo.explain.explain_run import explain_run

COLUMNS = [
    "feature",
    "rank",
    "mean_abs_attribution",
    "sd_abs_attribution",
    "mean_attribution",
    "top10_frequency",
    "n_splits_selected",
]


@pytest.fixture(scope="module")
def old_run(tiny_files, tmp_path_factory):
    """A tiny run folder as runs wrote them before attributions existed."""
    raw = tiny_raw(tiny_files, baselines=[], output={"report": False})
    raw["training"].update(epochs=3, ensemble=2, split={"kind": "kfold", "folds": 2})
    raw["data"]["modalities"]["rna"]["transforms"] = {"top_k": 12}
    result = biozoo.run(biozoo.parse_config(raw), out_dir=tmp_path_factory.mktemp("runs"))
    shutil.rmtree(result.path / "attributions", ignore_errors=True)
    for name in ("metrics.json", "leaderboard.csv", "versions.json", "report.html"):
        (result.path / name).unlink(missing_ok=True)
    return result.path


@pytest.fixture
def run(old_run, tmp_path):
    """A private copy of the old run folder, so each test may change it."""
    return shutil.copytree(old_run, tmp_path / "run")


def test_explain_an_old_run_folder(run, tiny_files):
    out = explain_run(run)
    assert out["computed"] == ["multimodule", "late"]
    for model in ("multimodule", "late"):
        summary = json.loads((run / "attributions" / model / "summary.json").read_text())
        assert summary["method"] == "integrated_gradients" and summary["splits"] == [
            "r0-f0",
            "r0-f1",
        ]
        assert summary["n_test_samples"] == 60 and summary["n_members"] == 2
        assert summary["completeness"]["median_relative_delta"] < 0.02
        for mod, n_in in (("clinical", 4), ("rna", 30), ("meth", 40)):
            table = pd.read_csv(run / "attributions" / model / f"{mod}.csv")
            assert list(table.columns) == COLUMNS
            assert table["rank"].tolist() == list(range(1, len(table) + 1))
            assert table["mean_abs_attribution"].is_monotonic_decreasing
            assert (table["mean_abs_attribution"] > 0).all() and len(table) <= n_in
            assert summary["modalities"][mod]["top"] == table["feature"].head(10).tolist()
        rna = pd.read_csv(run / "attributions" / model / "rna.csv")
        assert 12 <= len(rna) <= 24 and rna["n_splits_selected"].between(1, 2).all()
    everything = json.loads((run / "attributions" / "summary.json").read_text())
    assert set(everything["models"]) == {"multimodule", "late"}
    assert not [p for p in (run / "attributions").iterdir() if p.name.startswith(".")]


def test_only_what_is_missing_is_computed(run):
    explain_run(run, models=["late"])
    before = (run / "attributions" / "late" / "rna.csv").stat().st_mtime_ns
    out = explain_run(run)
    assert out["computed"] == ["multimodule"] and set(out["models"]) == {"multimodule", "late"}
    assert (run / "attributions" / "late" / "rna.csv").stat().st_mtime_ns == before
    with pytest.raises(
        BiozooError, match="made with integrated_gradients; recompute them with deeplift"
    ):
        explain_run(run, method="deeplift", models=["late"])
    out = explain_run(run, method="deeplift", models=["multimodule"], overwrite=True)
    assert out["models"]["multimodule"]["method"] == "deeplift"
    late = json.loads((run / "attributions" / "late" / "summary.json").read_text())
    assert late["method"] == "integrated_gradients" and set(out["models"]) == {"multimodule"}
    # one view: the explained log-odds is the output layer's logit, and DeepLIFT sums exactly
    assert out["models"]["multimodule"]["completeness"]["max_abs_delta"] < 1e-4


def test_a_failure_leaves_nothing_half_written(run, monkeypatch):
    real = explain_module.attribute_tables
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:  # the first model (2 splits x 2 members) succeeds
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(explain_module, "attribute_tables", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        explain_run(run)
    left = sorted(p.name for p in (run / "attributions").iterdir())
    assert left == ["multimodule"]
    assert (run / "attributions" / "multimodule" / "summary.json").is_file()


def test_errors_are_one_sentence(run, tmp_path):
    with pytest.raises(BiozooError, match="is not a folder"):
        explain_run(tmp_path / "nowhere")
    with pytest.raises(BiozooError, match="no config.yaml"):
        explain_run(tmp_path)
    with pytest.raises(BiozooError, match="has no model 'mlp'"):
        explain_run(run, models=["mlp"])
    with pytest.raises(BiozooError, match="unknown attribution method"):
        explain_run(run, method="saliency")
    shutil.rmtree(run / "models")
    with pytest.raises(BiozooError, match="saved no models"):
        explain_run(run)
    assert not (run / "attributions").exists()
