""":func:`biozoo.search.parallel.run_trials` on an in-process Dask cluster: the budget counts
every worker's finished trials, and a trial's error ends the search with no trial left
running."""

from __future__ import annotations

import optuna
import pytest
from distributed import Client, LocalCluster

from biozoo.search.parallel import run_trials, trial_seed
from biozoo.search.study import open_storage, open_study


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def _study(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    return storage, open_study(storage, "s", maximize=True, seed=0, pruner="none")


def _x(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0.0, 1.0)


def _broken(trial: optuna.Trial) -> float:
    raise ZeroDivisionError("a broken objective")


def test_the_budget_counts_trials_another_worker_finished(tmp_path, client):
    storage, study = _study(tmp_path)
    study.optimize(_x, n_trials=1)  # a worker elsewhere
    seen: list[int] = []
    run_trials(client, study, storage, _x, trials=5, seed=3, pruner="none", finished=seen.append)
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 5
    assert seen[-1] == 5 and len(seen) == 4
    assert len({t.params["x"] for t in study.trials}) == 5  # each trial its own seed


def test_a_trial_error_is_raised_and_no_trial_is_left_running(tmp_path, client):
    storage, study = _study(tmp_path)
    with pytest.raises(ZeroDivisionError, match="a broken objective"):
        run_trials(client, study, storage, _broken, trials=4, seed=0, pruner="none")
    assert study.trials and all(t.state.name == "FAIL" for t in study.trials)


def test_trial_seeds_differ_by_number_and_split():
    seeds = {trial_seed(s, n) for s in (0, 1) for n in range(50)}
    assert len(seeds) == 100 and trial_seed(4, 2) == trial_seed(4, 2)
