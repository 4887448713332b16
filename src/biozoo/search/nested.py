"""Nested evaluation of a search: per outer split, search its training part, retrain the best
configuration there, score it once on its test part.

:func:`run_search` is a normal run (:func:`biozoo.train.run.train`: the config's deep models
and baselines on the run's outer splits, the same run folder and report) with one more row,
the searched model, added to every outer split by :func:`add_searched`. Its files go under
``search/`` (:class:`~biozoo.search.layout.SearchLayout`).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pandas as pd
import yaml
from optuna.storages import RDBStorage
from optuna.trial import FixedTrial, TrialState

from biozoo.config import RunConfig
from biozoo.data.cohort import Cohort
from biozoo.data.splits import Split, cohort_splits
from biozoo.errors import BiozooError
from biozoo.resolved import resolved_config
from biozoo.search.layout import SearchLayout
from biozoo.search.objective import InnerObjective
from biozoo.search.parallel import StudyRun, TrialBudget, run_trials
from biozoo.search.sample import trial_config
from biozoo.search.space import SearchConfig
from biozoo.search.study import (
    fail_stale,
    open_storage,
    open_study,
    param_importance,
    quiet_optuna,
    stop_after,
    trials_frame,
)
from biozoo.train.distributed import DaskRunner, unit_files
from biozoo.train.experiment import (
    ExperimentResult,
    Progress,
    Unit,
    head_for,
    run_unit,
    split_transforms,
)
from biozoo.train.fold import FittedTransforms
from biozoo.train.run import RunResult, train
from biozoo.train.runfolder import RunFolder
from biozoo.train.units import RunJournal

__all__ = ["SplitSearch", "add_searched", "run_search", "search_split", "study_name"]


@dataclass
class SplitSearch:
    """What the search of one outer split found.

    Attributes:
        split: the outer split's name.
        best: the best trial's run config (one deep model, the searched one).
        best_trial: the best trial's number.
        best_value: its mean inner score (the task's primary metric).
        trials: one row per trial: ``number``, ``state``, ``value``, ``seconds`` and a
            column per parameter.
        importance: each parameter's importance (fANOVA, normalised), empty when too few
            trials finished.
        seconds: the search's wall time.
    """

    split: str
    best: RunConfig
    best_trial: int
    best_value: float
    trials: pd.DataFrame
    importance: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """Trials per final state (``COMPLETE``, ``PRUNED``, ``FAIL``...)."""
        return {str(k): int(v) for k, v in self.trials["state"].value_counts().items()}


def study_name(cfg: RunConfig, split: Split) -> str:
    """The study of one outer split: workers sharing a storage join it by this name."""
    return f"{cfg.name}-{split.name}"


def search_split(
    cfg: RunConfig,
    search: SearchConfig,
    cohort: Cohort,
    split: Split,
    split_index: int,
    storage: RDBStorage,
    *,
    progress: Progress | None = None,
) -> SplitSearch:
    """Search the training part of ``split`` in this process (its test part is never handed
    on).

    The inner splits (``search.inner``) are drawn from the training part with the run seed;
    the sampler's seed is ``search.seed`` (default the run seed) plus the split's position.

    Raises:
        BiozooError: no trial finished with a score.
    """
    t0 = time.perf_counter()
    study, objective, _ = _open_split(cfg, search, cohort, split, split_index, storage)
    callbacks = [stop_after(search.trials)]
    if progress is not None:
        callbacks.append(
            lambda s, t: progress(f"{split.name}: trial {t.number + 1} of {search.trials}")
        )
    with quiet_optuna():
        study.optimize(
            objective, n_trials=search.trials, timeout=search.timeout, callbacks=callbacks
        )
    return _found(cfg, search, split, study, storage, time.perf_counter() - t0)


def _open_split(
    cfg: RunConfig,
    search: SearchConfig,
    cohort: Cohort,
    split: Split,
    split_index: int,
    storage: RDBStorage,
) -> tuple[optuna.Study, InnerObjective, int]:
    """The study of ``split``, its objective (the training part and its inner folds) and
    the study's sampler seed."""
    train = cohort.subset(split.train).labelled_part()
    seed = _base_seed(cfg, search) + split_index
    folds = cohort_splits(train, search.inner, seed=cfg.training.seed)
    task = cohort.task
    with quiet_optuna():
        study = open_study(
            storage,
            study_name(cfg, split),
            maximize=task.higher_is_better[task.primary],
            seed=seed,
            pruner=search.pruner,
        )
    return study, InnerObjective(cfg, search, train, folds), seed


def _base_seed(cfg: RunConfig, search: SearchConfig) -> int:
    """The search's seed: ``search.seed``, default the run seed."""
    return cfg.training.seed if search.seed is None else search.seed


def _found(
    cfg: RunConfig,
    search: SearchConfig,
    split: Split,
    study: optuna.Study,
    storage: RDBStorage,
    seconds: float,
    *,
    importance: bool = True,
) -> SplitSearch:
    """What the finished study of ``split`` found (without the parameters' importances when
    not ``importance``).

    Raises:
        BiozooError: no trial finished with a score.
    """
    fail_stale(study, storage)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if not done:
        raise BiozooError(
            f"no trial of the search on split {split.name} finished with a score; "
            "see the warnings above."
        )
    best = study.best_trial
    return SplitSearch(
        split=split.name,
        best=trial_config(cfg, search, FixedTrial(best.params, best.number)),
        best_trial=best.number,
        best_value=float(best.value),
        trials=trials_frame(study),
        importance=param_importance(study, _base_seed(cfg, search)) if importance else {},
        seconds=seconds,
    )


def add_searched(
    cfg: RunConfig,
    search: SearchConfig,
    cohort: Cohort,
    result: ExperimentResult,
    folder: RunFolder,
    *,
    storage: RDBStorage | None = None,
    progress: Progress | None = None,
    runner: DaskRunner | None = None,
) -> list[SplitSearch]:
    """Search every outer split of ``result`` and add the searched model's row to it.

    Writes the search's files into ``folder`` (:class:`SearchLayout`). Without ``storage``
    the studies live in ``search/study.db`` in the run folder. With ``runner`` the splits'
    trials and retrainings share its Dask cluster (:mod:`biozoo.search.parallel`); the
    searched row's seconds are then each split's search and retraining, summed over splits
    that overlapped in time.
    """
    layout = SearchLayout(folder.layout.root)
    own = storage is None
    if own:
        storage = open_storage(f"sqlite:///{folder.path(layout.study)}")
    name = search.name()
    result.kinds[name] = "deep"
    try:
        if runner is None:
            searched = _search_here(cfg, search, cohort, result, storage, progress)
        else:
            searched = _search_on_cluster(cfg, search, cohort, result, storage, runner, progress)
    finally:
        if own:
            storage.engine.dispose()
    for _, retrained, seconds in searched:
        retrained.seconds.clear()  # the row's time is the search's and the retraining's
        result.add(retrained)
        result.seconds[name] = result.seconds.get(name, 0.0) + seconds
    found = [split_search for split_search, _, _ in searched]
    _write(folder, layout, search, found)
    return found


Searched = tuple[SplitSearch, ExperimentResult, float]
"""One outer split's search, its retrained best configuration, and the seconds of both."""


def _transforms(
    result: ExperimentResult, best: RunConfig, cohort: Cohort, split: Split
) -> FittedTransforms:
    """The transforms ``split``'s retraining uses: the run's own, or fitted for ``best``."""
    return result.transforms.get(split.name) or split_transforms(best, cohort, split)


def _search_here(
    cfg: RunConfig,
    search: SearchConfig,
    cohort: Cohort,
    result: ExperimentResult,
    storage: RDBStorage,
    progress: Progress | None,
) -> list[Searched]:
    """Each outer split searched, then its best configuration retrained, one after another."""
    searched = []
    for si, split in enumerate(result.splits):
        t0 = time.perf_counter()
        split_search = search_split(cfg, search, cohort, split, si, storage, progress=progress)
        best = split_search.best  # one deep model, the searched one: unit (si, 0)
        transforms = _transforms(result, best, cohort, split)
        retrained = run_unit(best, cohort, split, Unit(si, 0), transforms, progress=progress)
        searched.append((split_search, retrained, time.perf_counter() - t0))
    return searched


def _search_on_cluster(
    cfg: RunConfig,
    search: SearchConfig,
    cohort: Cohort,
    result: ExperimentResult,
    storage: RDBStorage,
    runner: DaskRunner,
    progress: Progress | None,
) -> list[Searched]:
    """Every outer split's trials on the cluster, the earliest split first, and each split's
    best configuration retrained there as soon as its study has its trials."""
    client, splits = runner.client, result.splits
    runs = []
    for si, split in enumerate(splits):
        study, objective, seed = _open_split(cfg, search, cohort, split, si, storage)
        runs.append(StudyRun(study, objective, seed))
    found: dict[int, SplitSearch] = {}
    data: list[object] = []  # the cohort, scattered once, at the first retraining

    def retrain(i: int) -> object:
        split, study = splits[i], runs[i].study
        found[i] = _found(cfg, search, split, study, storage, runs[i].seconds, importance=False)
        best = found[i].best
        transforms = _transforms(result, best, cohort, split)
        if not data:
            data.append(client.scatter(cohort))
        if progress is not None:
            progress(f"{split.name}: {search.name()}")
        unit = Unit(i, 0)
        future = client.submit(
            unit_files, best, data[0], split, unit, transforms, runner.threads, pure=False
        )
        # fANOVA on the client while a worker already retrains
        found[i].importance = param_importance(study, _base_seed(cfg, search))
        return future

    def finished(i: int, n: int) -> None:
        if progress is not None:
            progress(f"{splits[i].name}: trial {n} of {search.trials}")

    budget = TrialBudget(search.trials, search.pruner, runner.threads, search.timeout)
    with quiet_optuna():
        run_trials(client, storage, runs, budget, finished=finished, follow_up=retrain)
    n_outputs = head_for(cohort).n_outputs
    searched = []
    with tempfile.TemporaryDirectory(prefix="biozoo-searched-") as tmp:
        for i, run in enumerate(runs):
            journal = RunJournal(Path(tmp), found[i].best, n_outputs)
            journal.write(Unit(i, 0), run.follow_up)
            retrained = journal.load(Unit(i, 0))
            seconds = run.seconds + sum(retrained.seconds.values())
            searched.append((found[i], retrained, seconds))
    return searched


def _write(
    folder: RunFolder, layout: SearchLayout, search: SearchConfig, found: list[SplitSearch]
) -> None:
    folder.write_text(layout.space, yaml.safe_dump(search.model_dump(mode="json"), sort_keys=False))
    for s in found:
        plain = json.loads(resolved_config(s.best).model_dump_json())
        folder.write_text(layout.best(s.split), yaml.safe_dump(plain, sort_keys=False))
    folder.write_csv(
        layout.trials,
        pd.concat([s.trials.assign(split=s.split) for s in found], ignore_index=True),
    )
    importance = [
        {"split": s.split, "parameter": p, "importance": v}
        for s in found
        for p, v in s.importance.items()
    ]
    folder.write_csv(
        layout.importance, pd.DataFrame(importance, columns=["split", "parameter", "importance"])
    )
    summary = {
        s.split: {
            "best_trial": s.best_trial,
            "best_inner_score": s.best_value,
            "trials": s.counts(),
            "seconds": s.seconds,
            "best_config": layout.best(s.split).relative_to(layout.root).as_posix(),
        }
        for s in found
    }
    folder.write_json(layout.summary, {"model": search.name(), "splits": summary})


def run_search(
    cfg: RunConfig,
    search: SearchConfig,
    *,
    cohort: Cohort | None = None,
    out_dir: Path | None = None,
    storage: RDBStorage | None = None,
    progress: Progress | None = None,
    finish: Callable[[Path, Cohort], None] | None = None,
    runner: DaskRunner | None = None,
) -> RunResult:
    """The run of ``cfg`` (its models and baselines) plus the searched model, nested.

    Args:
        cfg: the run config (outer splits, data, models, baselines, training defaults).
        search: the search section.
        cohort: the data, if already loaded.
        out_dir: where the run folder goes (default ``cfg.output.dir``).
        storage: a shared Optuna storage (default: SQLite in the run folder).
        progress: called with a short label before each fit and after each trial.
        finish: as for :func:`biozoo.train.run.train` (the report is written there).
        runner: a Dask cluster for the run's units and the search's trials
            (:func:`biozoo.train.distributed.dask_runner`); default: this process.
    """
    from biozoo.data.align import load_cohort

    data = cohort if cohort is not None else load_cohort(cfg.data)

    def extend(result: ExperimentResult, folder: RunFolder) -> None:
        add_searched(
            cfg, search, data, result, folder, storage=storage, progress=progress, runner=runner
        )

    return train(
        cfg,
        cohort=data,
        out_dir=out_dir,
        progress=progress,
        finish=finish,
        extend=extend,
        runner=runner,
    )
