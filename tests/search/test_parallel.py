"""``biozoo search --workers N | --scheduler ADDR``: trials on a real Dask cluster.

A parallel search may try other values than a serial one (TPE draws from the trials finished
when a trial starts), so what is checked is what holds: each split's study ends with the
requested number of trials, no trial sees an outer test row, the best configurations and the
searched row are written.
"""

from __future__ import annotations

import functools
import json
import os

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import tests.search.trial_spy as trial_spy
import yaml
from tests.conftest import free_port, search_refused
from tests.search.conftest import search_raw
from tests.search.trial_spy import SpyObjective
from typer.testing import CliRunner

import biozoo.search.nested as nested
from biozoo import api
from biozoo.cli import app
from biozoo.data.align import load_cohort
from biozoo.search.check import parse_search
from biozoo.train.experiment import Unit, run_splits, run_unit, split_transforms

runner = CliRunner()
TRIALS = 3


def _write(tmp_path, raw) -> str:
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.fixture
def spy_by_value():
    """The spy travels to the workers by value: they cannot import the tests."""
    cloudpickle.register_pickle_by_value(trial_spy)
    yield
    cloudpickle.unregister_pickle_by_value(trial_spy)


def test_two_local_workers_run_every_trial_and_no_trial_sees_an_outer_test_row(
    tiny_files, tmp_path, monkeypatch, spy_by_value
):
    raw = search_raw(tiny_files, trials=TRIALS)
    raw["training"]["threads"] = 1
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setattr(nested, "InnerObjective", functools.partial(SpyObjective, marks=marks))
    out = tmp_path / "runs"
    args = ["search", _write(tmp_path, raw), "--workers", "2", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "searched-mlp" in result.output and "logistic/ridge" in result.output

    (run,) = out.iterdir()
    cfg, search = parse_search(raw)
    cohort = load_cohort(cfg.data)
    splits = run_splits(cfg, cohort)
    trials = pd.read_csv(run / "search" / "trials.csv", dtype={"split": str})
    for split in splits:
        states = trials[trials["split"] == split.name]["state"]
        assert states.value_counts().to_dict() == {"COMPLETE": TRIALS}
        assert (run / "search" / "best" / f"{split.name}.yaml").is_file()
    # every split's parameter importances (fANOVA, normalised), computed on the client
    importance = pd.read_csv(run / "search" / "importance.csv", dtype={"split": str})
    sums = importance.groupby("split")["importance"].sum()
    assert sorted(sums.index) == sorted(s.name for s in splits)
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-6)
    summary = json.loads((run / "search" / "summary.json").read_text())
    assert list(summary["splits"]) == [s.name for s in splits]
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["per_split"]["searched-mlp"]) == len(splits)
    # each split's best configuration was retrained on a worker: as it retrains here (the
    # cohort's modalities in the order of the config file the run read)
    predictions = pd.read_csv(run / "predictions.csv", dtype={"sample_id": str, "split": str})
    last = len(splits) - 1
    best = api.load_config(run / "search" / "best" / f"{splits[last].name}.yaml")
    read = load_cohort(best.data)
    here = run_unit(
        best, read, splits[last], Unit(last, 0), split_transforms(best, read, splits[last])
    )
    mine = here.predictions[0].sort_values("sample_id")
    theirs = predictions[
        (predictions["method"] == "searched-mlp") & (predictions["split"] == splits[last].name)
    ].sort_values("sample_id")
    assert list(theirs["sample_id"]) == list(mine["sample_id"])
    np.testing.assert_allclose(theirs["p_1"].to_numpy(), mine["p_1"].to_numpy(), atol=1e-6)

    records = [json.loads(p.read_text()) for p in marks.glob("*.json")]
    assert len(records) == TRIALS * len(splits)
    assert all(r["pid"] != os.getpid() for r in records), "a trial ran on the client"
    per_split = {s.name: 0 for s in splits}
    for r in records:
        seen = {i for f in r["folds"] for i in f["fit"] + f["held_out"]}
        (split,) = [s for s in splits if seen == {str(i) for i in cohort.ids[s.train]}]
        assert not seen & {str(i) for i in cohort.ids[split.test]}, "an outer test row"
        for f in r["folds"]:
            assert not set(f["fit"]) & set(f["held_out"])
        per_split[split.name] += 1
    assert per_split == {s.name: TRIALS for s in splits}


def test_workers_and_scheduler_together_are_refused(tiny_files, tmp_path):
    config = _write(tmp_path, search_raw(tiny_files))
    message = search_refused(
        tmp_path, [config, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]
    )
    assert "not both" in message


def test_a_scheduler_without_a_shared_storage_is_one_sentence(tiny_files, tmp_path):
    config = _write(tmp_path, search_raw(tiny_files))
    message = search_refused(tmp_path, [config, "--scheduler", "tcp://127.0.0.1:1"])
    assert message.startswith("error: --scheduler tcp://127.0.0.1:1 runs trials on machines")
    assert "--storage postgresql://" in message and message.count(". ") == 0


def test_an_unreachable_scheduler_is_one_sentence_and_nothing_is_left(tiny_files, tmp_path):
    config = _write(tmp_path, search_raw(tiny_files))
    address = f"tcp://127.0.0.1:{free_port()}"
    storage = f"postgresql://postgres@127.0.0.1:{free_port()}/studies"
    message = search_refused(tmp_path, [config, "--scheduler", address, "--storage", storage])
    assert message.startswith("error: cannot reach the Dask scheduler at " + address), message
