"""A study's trials on a Dask cluster (``biozoo search --workers N | --scheduler ADDR``).

The client asks the study for each trial and hands it to a worker, which draws the trial's
values, trains it on the inner folds (reporting each running score to the pruner) and tells
the study its outcome, all in the shared storage. At most one trial per worker thread runs at
a time, and the client asks for a new trial only while the finished and running trials
together stay under the budget, so a split's study ends with the requested number of trials,
as a serial search's does (fewer only when trials fail or ``search.timeout`` passes). A trial
whose worker dies is run again by Dask on another worker, under the same trial number.

The storage must be one every worker reaches: the run folder's SQLite file serves worker
processes on the client's machine (a local cluster); workers on other machines need a
database server (``--storage postgresql://...``).

Determinism: each trial's sampler is seeded by the split's seed and the trial's number, but
the TPE sampler draws from the trials finished when the trial starts, and which ones those are
depends on the workers' timing. So a parallel search may try other values than a serial one
with the same seed, and two parallel searches may differ once TPE models the finished trials
(during its random start-up trials a trial's values depend on its number alone); the inner
folds, the trial budget and the scoring of a given configuration are the same.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import optuna
from optuna.storages import RDBStorage

from biozoo.search.objective import InnerObjective
from biozoo.search.study import FINISHED, open_study
from biozoo.train.threads import torch_threads

__all__ = ["run_trials", "trial_seed"]

Finished = Callable[[int], None]
"""Called on the client with the count of finished trials after each trial ends."""


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial ``number`` of a study seeded ``seed`` (each trial its own)."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def run_trials(
    client: object,
    study: optuna.Study,
    storage: RDBStorage,
    objective: InnerObjective,
    *,
    trials: int,
    seed: int,
    pruner: str,
    threads: int = 1,
    timeout: float | None = None,
    finished: Finished | None = None,
) -> None:
    """Run up to ``trials`` trials of ``study`` on the workers of ``client``.

    Args:
        client: a connected ``distributed.Client``.
        study: the split's study, opened in ``storage`` on the client.
        storage: the study's storage, reached again by each worker.
        objective: the split's objective (its training part and inner folds).
        trials: the finished trials the study should hold (all workers, all clients).
        seed: the split's sampler seed (each trial's is :func:`trial_seed`).
        pruner: the pruner's name.
        threads: torch threads per trial on a worker.
        timeout: seconds after which no new trial starts.
        finished: called after each trial with the study's count of finished trials.

    Raises:
        Exception: a trial's own error (the trial is marked failed, the others cancelled).
    """
    from distributed import as_completed

    slots = max(1, sum(client.nthreads().values()))
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    shared = client.scatter(objective, broadcast=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    running: dict[object, int] = {}
    asked = 0

    def room() -> bool:
        if asked >= trials or len(running) >= slots:
            return False
        if deadline is not None and time.monotonic() > deadline:
            return False
        done = len(study.get_trials(deepcopy=False, states=FINISHED))
        return done + len(running) < trials

    def submit() -> object:
        nonlocal asked
        trial = study.ask()
        asked += 1
        future = client.submit(
            _run_trial,
            storage,
            study.study_name,
            trial._trial_id,
            shared,
            maximize,
            trial_seed(seed, trial.number),
            pruner,
            threads,
            pure=False,
        )
        running[future] = trial.number
        return future

    while room():
        submit()
    queue = as_completed(list(running))
    try:
        for future in queue:
            running.pop(future)
            future.result()  # a trial's own error is raised here
            if finished is not None:
                finished(len(study.get_trials(deepcopy=False, states=FINISHED)))
            while room():
                queue.add(submit())
    finally:
        for future in running:
            future.cancel()
        for number in running.values():  # cancelled before they could tell
            if not study.get_trials(deepcopy=False)[number].state.is_finished():
                study.tell(number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)


def _run_trial(
    storage: RDBStorage,
    name: str,
    trial_id: int,
    objective: InnerObjective,
    maximize: bool,
    seed: int,
    pruner: str,
    threads: int,
) -> None:
    """On a worker: run the asked trial ``trial_id`` of study ``name`` and tell its outcome."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            study = open_study(storage, name, maximize=maximize, seed=seed, pruner=pruner)
        trial = optuna.Trial(study, trial_id)
        try:
            with torch_threads(threads):
                value = objective(trial)
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        except Exception:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        else:
            study.tell(trial, value)  # NaN: Optuna marks the trial failed, as optimize does
    finally:
        storage.engine.dispose()
