""":func:`biozoo.search.parallel.run_trials` on an in-process Dask cluster: the budget counts
every worker's finished trials, several studies share the workers and each gets its
follow-up once its trials are done, and a trial's error ends the search with no trial left
running."""

from __future__ import annotations

import time

import optuna
import pytest
from distributed import Client, LocalCluster

from biozoo.search.parallel import (
    StudyRun,
    TrialBudget,
    fail_unless_finished,
    run_trials,
    trial_seed,
)
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


def _storage(tmp_path):
    return open_storage(f"sqlite:///{tmp_path / 's.db'}")


def _study(storage, name="s"):
    return open_study(storage, name, maximize=True, seed=0, pruner="none")


def _x(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0.0, 1.0)


def _slow_x(trial: optuna.Trial) -> float:
    time.sleep(0.05)
    return trial.suggest_float("x", 0.0, 1.0)


def _broken(trial: optuna.Trial) -> float:
    raise ZeroDivisionError("a broken objective")


def test_the_budget_counts_trials_another_worker_finished(tmp_path, client):
    storage = _storage(tmp_path)
    study = _study(storage)
    study.optimize(_x, n_trials=1)  # a worker elsewhere
    seen: list[tuple[int, int]] = []
    run = StudyRun(study, _x, seed=3)
    run_trials(client, storage, [run], TrialBudget(5, "none"), finished=lambda *a: seen.append(a))
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 5
    assert seen[-1] == (0, 5) and len(seen) == 4
    assert len({t.params["x"] for t in study.trials}) == 5  # each trial its own seed
    assert run.seconds > 0


def test_studies_share_the_workers_and_each_follow_up_comes_after_its_trials(tmp_path, client):
    storage = _storage(tmp_path)
    runs = [StudyRun(_study(storage, f"s{i}"), _slow_x, seed=i) for i in range(3)]
    ends: dict[int, float] = {}

    def follow_up(i: int) -> object:
        trials = runs[i].study.trials
        assert len(trials) == 4 and all(t.state.is_finished() for t in trials)
        ends[i] = max(t.datetime_complete.timestamp() for t in trials)
        return client.submit(lambda i: ("retrained", i), i, pure=False)

    run_trials(client, storage, runs, TrialBudget(4, "none"), follow_up=follow_up)

    assert [r.follow_up for r in runs] == [("retrained", i) for i in range(3)]
    assert sorted(ends) == [0, 1, 2]
    for run in runs:
        assert [t.state.name for t in run.study.trials] == ["COMPLETE"] * 4
    # the earliest study first: the last study starts only when the first has no trial to ask
    starts = [min(t.datetime_start for t in r.study.trials) for r in runs]
    asked_all = max(t.datetime_start for t in runs[0].study.trials)
    assert starts[0] < starts[1] <= starts[2] and starts[2] >= asked_all


def test_a_study_whose_trials_are_all_done_elsewhere_still_gets_its_follow_up(tmp_path, client):
    storage = _storage(tmp_path)
    study = _study(storage)
    study.optimize(_x, n_trials=2)
    run = StudyRun(study, _broken, seed=0)  # never called: nothing is left to run
    run_trials(
        client,
        storage,
        [run],
        TrialBudget(2, "none"),
        follow_up=lambda i: client.submit(len, "ab", pure=False),
    )
    assert run.follow_up == 2 and len(study.trials) == 2


def test_a_trial_error_is_raised_and_no_trial_is_left_running(tmp_path, client):
    storage = _storage(tmp_path)
    study = _study(storage)
    with pytest.raises(ZeroDivisionError, match="a broken objective"):
        run_trials(client, storage, [StudyRun(study, _broken, seed=0)], TrialBudget(4, "none"))
    assert study.trials and all(t.state.name == "FAIL" for t in study.trials)


def test_failing_a_trial_its_worker_finishes_meanwhile_keeps_the_workers_outcome(tmp_path):
    storage = _storage(tmp_path)
    study = _study(storage)
    trial = study.ask()
    write = storage.set_trial_state_values

    def worker_first(trial_id, state, values=None):  # the worker tells between read and write
        write(trial_id, optuna.trial.TrialState.COMPLETE, [0.5])
        return write(trial_id, state, values)

    storage.set_trial_state_values = worker_first
    fail_unless_finished(study, trial.number)
    storage.set_trial_state_values = write
    assert study.trials[0].state.name == "COMPLETE" and study.trials[0].value == 0.5
    fail_unless_finished(study, trial.number)  # already finished: left alone
    other = study.ask()
    fail_unless_finished(study, other.number)
    assert study.trials[1].state.name == "FAIL"


def test_trial_seeds_differ_by_number_and_split():
    seeds = {trial_seed(s, n) for s in (0, 1) for n in range(50)}
    assert len(seeds) == 100 and trial_seed(4, 2) == trial_seed(4, 2)
