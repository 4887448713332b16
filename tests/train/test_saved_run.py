"""Reading a finished run back: RunLayout, SavedRun, its splits and their test samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import biozoo
from biozoo.errors import BiozooError
from biozoo.train.plan import predict_members
from biozoo.train.runfolder import RunLayout
from biozoo.train.saved_run import SavedRun


@pytest.fixture(scope="module")
def run_path(tiny_files, tmp_path_factory):
    """A finished run: two models, two hold-out splits, ensembles of 2."""
    from tests.conftest import tiny_raw

    raw = tiny_raw(tiny_files, baselines=[])
    raw["training"].update(epochs=4, split={"kind": "holdout", "repeats": 2})
    return biozoo.run(biozoo.parse_config(raw), out_dir=tmp_path_factory.mktemp("runs")).path


def test_layout_names_every_file_the_run_wrote(run_path):
    layout = RunLayout(run_path)
    for path in (layout.config, layout.metrics, layout.leaderboard, layout.predictions):
        assert path.is_file()
    assert layout.split_names() == ["h0", "h1"]
    assert layout.model_splits("late") == ["h0", "h1"]
    assert layout.ensemble("late", "h1").is_file() and layout.transforms("h0").is_file()
    saved = {layout.relative(p) for p in layout.models.rglob("*.safetensors")}
    assert saved == {
        f"models/{m}/{s}.safetensors"
        for m in ("transforms", "multimodule", "late")
        for s in ("h0", "h1")
    }


def test_test_splits_reproduce_the_runs_own_predictions(run_path):
    run = SavedRun(run_path)
    assert run.splits() == ["h0", "h1"] and run.saved_models() == ["multimodule", "late"]
    cohort = run.load_cohort()
    recorded = pd.read_csv(run.layout.predictions, dtype={"sample_id": str})
    seen = []
    for tested in run.test_splits("multimodule", cohort):
        seen.append(tested.name)
        saved = tested.saved
        probs = predict_members(saved.ensemble, saved.head, tested.data).numpy().mean(axis=0)
        rows = recorded[(recorded["method"] == "multimodule") & (recorded["split"] == tested.name)]
        rows = rows.set_index("sample_id").loc[[str(s) for s in cohort.ids[tested.test]]]
        np.testing.assert_allclose(probs[:, 1], rows["p_1"].to_numpy(), atol=1e-6)
        # each member, rebuilt as a plain model, gives the ensemble member's output
        data = tested.data
        with torch.no_grad():
            one = saved.member(1)(data.inputs, data.present)
            stacked = predict_members(saved.ensemble, saved.head, data)[1]
        np.testing.assert_allclose(saved.head(*one).prediction.numpy(), stacked.numpy(), atol=1e-6)
    assert seen == ["h0", "h1"]


def test_saved_run_errors(run_path, tmp_path):
    run = SavedRun(run_path)
    with pytest.raises(BiozooError, match="no model 'other'"):
        run.check_model("other")
    with pytest.raises(BiozooError, match="no saved model 'late' for split 'h9'"):
        run.split("h9", "late")
    with pytest.raises(BiozooError, match="not a biozoo run folder"):
        SavedRun(tmp_path)
