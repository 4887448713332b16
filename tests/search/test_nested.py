"""Nested search end to end: the searched row, its files, no leak, reproducibility, pruning."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from tests.search.conftest import search_raw

import biozoo.search.nested as nested
import biozoo.search.objective as objective
from biozoo import api
from biozoo.data.align import load_cohort
from biozoo.search.check import parse_search
from biozoo.search.layout import SearchLayout
from biozoo.search.study import open_storage
from biozoo.train.experiment import run_splits


def test_search_adds_a_searched_row_and_no_trial_sees_an_outer_test_row(
    tiny_files, tmp_path, monkeypatch
):
    raw = search_raw(tiny_files)
    raw["output"]["report"] = True
    cfg, search = parse_search(raw)
    cohort = load_cohort(cfg.data)
    splits = run_splits(cfg, cohort)
    seen: dict[str, list[tuple[set, set]]] = {}
    current: list[str] = []

    real_split, real_fold = nested.search_split, objective.score_fold

    def spy_split(cfg, search, cohort, split, *args, **kwargs):
        current.append(split.name)
        return real_split(cfg, search, cohort, split, *args, **kwargs)

    def spy_fold(cfg, model, fit, held_out, *, fold):
        seen.setdefault(current[-1], []).append((set(fit.ids), set(held_out.ids)))
        return real_fold(cfg, model, fit, held_out, fold=fold)

    monkeypatch.setattr(nested, "search_split", spy_split)
    monkeypatch.setattr(objective, "score_fold", spy_fold)
    result = api.search(cfg, search, cohort=cohort, out_dir=tmp_path)

    assert current == [s.name for s in splits]
    for split in splits:
        train, test = set(cohort.ids[split.train]), set(cohort.ids[split.test])
        fits = seen[split.name]
        assert len(fits) == search.trials  # one inner hold-out per trial
        for fit, held_out in fits:
            assert not (fit | held_out) & test, "a trial saw an outer test row"
            assert fit | held_out == train and not fit & held_out

    board = result.leaderboard.set_index("method")
    assert board.loc["searched-mlp", "kind"] == "deep"
    assert board.loc["searched-mlp", "n_splits"] == len(splits)
    assert "logistic/ridge (CV)" in board.index
    per_split = result.metrics["per_split"]["searched-mlp"]
    assert len(per_split) == len(splits) and np.isfinite(per_split[0]["roc_auc"])

    layout = SearchLayout(result.path)
    trials = pd.read_csv(layout.trials, dtype={"split": str})
    assert trials.groupby("split").size().to_dict() == {s.name: 2 for s in splits}
    summary = json.loads(layout.summary.read_text())
    assert list(summary["splits"]) == [s.name for s in splits]
    for split in splits:  # each best configuration is a plain run config
        best = api.load_config(layout.best(split.name))
        assert list(best.models) == ["searched-mlp"] and best.baselines == cfg.baselines
    page = (result.path / "report.html").read_text()
    assert 'data-plot="search-history"' in page and 'id="search"' in page
    assert not list(tmp_path.glob(".*partial"))


def _search_once(cfg, search, cohort, split, path):
    storage = open_storage(f"sqlite:///{path}")
    try:
        return nested.search_split(cfg, search, cohort, split, 0, storage)
    finally:
        storage.engine.dispose()


def test_two_searches_with_one_seed_try_the_same_trials(tiny_files, tmp_path):
    cfg, search = parse_search(search_raw(tiny_files, trials=3))
    cohort = load_cohort(cfg.data)
    split = run_splits(cfg, cohort)[0]
    first = _search_once(cfg, search, cohort, split, tmp_path / "a.db")
    again = _search_once(cfg, search, cohort, split, tmp_path / "b.db")
    columns = [c for c in first.trials.columns if c != "seconds"]
    pd.testing.assert_frame_equal(first.trials[columns], again.trials[columns])
    assert first.best.model_dump() == again.best.model_dump()
    other = search.model_copy(update={"seed": 7})
    moved = _search_once(cfg, other, cohort, split, tmp_path / "c.db")
    assert not moved.trials["lr"].equals(first.trials["lr"])


def test_the_median_pruner_stops_trials_on_their_inner_folds(tiny_files, tmp_path, monkeypatch):
    """A trial reports its running mean after each inner fold; poor ones stop early."""
    raw = search_raw(tiny_files, trials=12, inner={"kind": "kfold", "folds": 3})
    cfg, search = parse_search(raw)
    cohort = load_cohort(cfg.data)
    split = run_splits(cfg, cohort)[0]
    folds_run: dict[float, int] = {}

    def score(cfg, model, fit, held_out, *, fold):  # the score rises with lr: no training
        folds_run[cfg.training.lr] = fold + 1
        return float(np.log10(cfg.training.lr))

    monkeypatch.setattr(objective, "score_fold", score)
    found = _search_once(cfg, search, cohort, split, tmp_path / "p.db")
    states = found.trials.set_index("number")["state"]
    assert (states == "PRUNED").any() and (states == "COMPLETE").sum() >= 5
    storage = optuna.load_study(study_name="tiny-r0-f0", storage=f"sqlite:///{tmp_path / 'p.db'}")
    for t in storage.trials:
        steps = sorted(t.intermediate_values)
        if t.state.name == "COMPLETE":
            assert steps == [0, 1, 2]
        else:
            assert len(steps) < 3 and folds_run[t.params["lr"]] == len(steps)


@pytest.mark.parametrize("pruner", ["hyperband", "none"])
def test_other_pruners_run(tiny_files, tmp_path, monkeypatch, pruner):
    cfg, search = parse_search(search_raw(tiny_files, trials=3, pruner=pruner))
    cohort = load_cohort(cfg.data)
    monkeypatch.setattr(objective, "score_fold", lambda cfg, *a, **k: cfg.training.lr)
    found = _search_once(cfg, search, cohort, run_splits(cfg, cohort)[0], tmp_path / "h.db")
    assert found.counts() == {"COMPLETE": 3}


def test_the_best_configuration_trains_as_written(tiny_files, tmp_path):
    cfg, search = parse_search(search_raw(tiny_files, trials=1))
    cohort = load_cohort(cfg.data)
    split = run_splits(cfg, cohort)[0]
    found = _search_once(cfg, search, cohort, split, tmp_path / "t.db")
    text = yaml.safe_dump(found.best.model_dump(mode="json"))
    path = tmp_path / "best.yaml"
    path.write_text(text)
    again = api.load_config(path)
    assert again.models == found.best.models and again.training == found.best.training
