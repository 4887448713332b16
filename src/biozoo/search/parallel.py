"""The trials of a search's studies on a Dask cluster (``biozoo search --workers N |
--scheduler ADDR``).

The client asks each study for its trials and hands them to the workers, which draw the
trial's values, train it on the inner folds (reporting each running score to the pruner) and
tell the study its outcome, all in the shared storage. The studies (one per outer split) share
the cluster: a free worker takes a trial of the earliest study that still has room, so the
workers stay busy while a study waits for its last trials, and once a study has its budget
its follow-up task (the best configuration's retraining) is submitted on the cluster too. At
most one task per worker thread runs at a time, and a study is asked for a new trial only
while its finished and running trials together stay under the budget, so each study ends
with the requested number of trials, as a serial search's does (fewer only when trials fail
or ``search.timeout`` passes, counted from the study's first trial). A trial whose worker
dies is run again by Dask on another worker, under the same trial number.

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

import contextlib
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import optuna
from optuna.storages import RDBStorage

from biozoo.search.objective import InnerObjective
from biozoo.search.study import FINISHED, open_study
from biozoo.train.threads import torch_threads

__all__ = ["StudyRun", "TrialBudget", "fail_unless_finished", "run_trials", "trial_seed"]

Finished = Callable[[int, int], None]
"""Called on the client after each trial ends: the study's position, its finished trials."""
FollowUp = Callable[[int], object]
"""Called on the client when study ``i`` has its trials; returns the follow-up's future."""


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial ``number`` of a study seeded ``seed`` (each trial its own)."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


@dataclass(frozen=True)
class TrialBudget:
    """What every study of :func:`run_trials` may spend.

    Attributes:
        trials: the finished trials each study should hold (all workers, all clients).
        pruner: the pruner's name.
        threads: torch threads per trial on a worker.
        timeout: seconds after a study's first trial when it starts no new trial.
    """

    trials: int
    pruner: str
    threads: int = 1
    timeout: float | None = None


@dataclass
class StudyRun:
    """One study's trials on the cluster: given by the caller, filled in by :func:`run_trials`.

    Attributes:
        study: the study, opened in the shared storage on the client.
        objective: its objective (an outer split's training part and inner folds).
        seed: the study's sampler seed (each trial's is :func:`trial_seed`).
        seconds: wall time from its first trial's submission to its last trial's end.
        follow_up: what its follow-up task returned (None without one).
    """

    study: optuna.Study
    objective: InnerObjective
    seed: int
    seconds: float = 0.0
    follow_up: object = None
    _asked: int = field(default=0, repr=False)
    _running: int = field(default=0, repr=False)
    _start: float | None = field(default=None, repr=False)
    _shared: object = field(default=None, repr=False)
    _over: bool = field(default=False, repr=False)

    def finished(self) -> int:
        """Its finished trials (every worker's, every client's)."""
        return len(self.study.get_trials(deepcopy=False, states=FINISHED))

    def has_room(self, budget: TrialBudget) -> bool:
        """Whether it may start another trial."""
        if self._over or self._asked >= budget.trials:
            return False
        timeout, start = budget.timeout, self._start
        if timeout is not None and start is not None and time.monotonic() > start + timeout:
            return False
        return self.finished() + self._running < budget.trials


def run_trials(
    client: object,
    storage: RDBStorage,
    studies: Sequence[StudyRun],
    budget: TrialBudget,
    *,
    finished: Finished | None = None,
    follow_up: FollowUp | None = None,
) -> None:
    """Run the trials of ``studies`` on the workers of ``client``, the earliest study first.

    Fills in each study's ``seconds`` and ``follow_up``.

    Args:
        client: a connected ``distributed.Client``.
        storage: the studies' storage, reached again by each worker.
        studies: the studies, in the order they are served.
        budget: trials, pruner, threads and timeout of every study.
        finished: called after each trial with the study's position and finished trials.
        follow_up: called once a study has its trials (none running, none more to start);
            the future it returns takes a worker like a trial, and its result becomes the
            study's ``follow_up``.

    Raises:
        Exception: a trial's or a follow-up's own error (a failed trial is marked failed;
            every other running trial is cancelled and marked failed).
    """
    from distributed import as_completed

    slots = max(1, sum(client.nthreads().values()))
    running: dict[object, tuple[int, int | None]] = {}  # future -> (study, trial or None)

    def submit_trial(i: int) -> object:
        run = studies[i]
        if run._shared is None:
            run._shared = client.scatter(run.objective)
            run._start = time.monotonic()
        trial = run.study.ask()
        run._asked += 1
        run._running += 1
        maximize = run.study.direction == optuna.study.StudyDirection.MAXIMIZE
        future = client.submit(
            _run_trial,
            storage,
            run.study.study_name,
            trial._trial_id,
            run._shared,
            maximize,
            trial_seed(run.seed, trial.number),
            budget.pruner,
            budget.threads,
            pure=False,
        )
        running[future] = (i, trial.number)
        return future

    def next_tasks() -> list[object]:
        """Follow-ups of the studies that are over, then trials while workers are free."""
        new = []
        for i, run in enumerate(studies):
            if run._over or run._running or run.has_room(budget):
                continue
            run._over, run._shared = True, None  # the objective's copies are released
            if run._start is not None:  # None: other workers had finished its trials
                run.seconds = time.monotonic() - run._start
            if follow_up is not None:
                future = follow_up(i)
                running[future] = (i, None)
                new.append(future)
        while len(running) < slots:
            i = next((i for i, run in enumerate(studies) if run.has_room(budget)), None)
            if i is None:
                break
            new.append(submit_trial(i))
        return new

    queue = as_completed(next_tasks())
    try:
        for future in queue:
            i, number = running.pop(future)
            result = future.result()  # a trial's or a follow-up's own error is raised here
            if number is None:
                studies[i].follow_up = result
            else:
                studies[i]._running -= 1
                if finished is not None:
                    finished(i, studies[i].finished())
            for new in next_tasks():
                queue.add(new)
    finally:
        for future in running:
            future.cancel()
        for i, number in running.values():  # cancelled before they could tell
            if number is not None:
                fail_unless_finished(studies[i].study, number)


def fail_unless_finished(study: optuna.Study, number: int) -> None:
    """Mark trial ``number`` failed unless it has finished, also when its worker tells its
    outcome between the check and the write (a cancelled future's worker may still run)."""
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # the worker's stands
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
            fail_unless_finished(study, trial.number)  # the client may have failed it
            raise
        else:
            study.tell(trial, value)  # NaN: Optuna marks the trial failed, as optimize does
    finally:
        storage.engine.dispose()
