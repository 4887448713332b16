"""A trial's score: its config trained and scored on the inner splits of one outer training part.

The cohort an :class:`InnerObjective` holds is the outer split's training part alone, so no
trial can see an outer test sample. Each inner fold fits its own transforms on its training
part (as an outer split does), trains the trial's ensemble there (early stopping on a
validation part drawn from it) and scores the task's primary metric on the inner fold's held
out part. After each inner fold the running mean is reported to the pruner, which may stop
the trial before its last fold. A trial trains and scores on ``training.accelerator``'s
device, as a run unit does (:func:`~biozoo.train.experiment.unit_device`).
"""

from __future__ import annotations

import logging

import numpy as np
import optuna
from pydantic import ValidationError

from biozoo.config import RunConfig
from biozoo.data.cohort import Cohort
from biozoo.data.splits import Split
from biozoo.search.sample import trial_config
from biozoo.search.space import SearchConfig
from biozoo.tasks import Reference
from biozoo.train.device import on_device
from biozoo.train.experiment import (
    head_for,
    member_predictions,
    train_split_ensemble,
    unit_device,
)
from biozoo.train.fold import fit_transforms
from biozoo.train.threads import torch_threads

__all__ = ["InnerObjective", "score_fold"]

log = logging.getLogger(__name__)


def score_fold(cfg: RunConfig, model: str, fit: Cohort, held_out: Cohort, *, fold: int) -> float:
    """Train ``model`` of ``cfg`` on ``fit`` and return the primary metric on ``held_out``.

    Transforms are fitted on ``fit`` only; seeds come from the run seed and ``fold``. The
    ensemble trains and is scored on :func:`~biozoo.train.experiment.unit_device`, and is
    handed back on the CPU.
    """
    task = fit.task
    transforms = fit_transforms(fit, cfg.data)
    head = head_for(fit)
    fit_data = transforms.fold_data(fit)
    with torch_threads(cfg.training.threads):
        ensemble, _, _, _ = train_split_ensemble(
            cfg,
            model,
            fit_data,
            fit.target,
            inputs=transforms.inputs,
            stratify=fit.stratify_labels,
            head=head,
            split_index=fold,
            model_index=0,
        )
        with on_device(ensemble, unit_device(cfg, model)):  # scored where it trained
            pred = member_predictions(ensemble, head, transforms, transforms.fold_data(held_out))
            reference = None
            if task.needs_reference:
                fitted = member_predictions(ensemble, head, transforms, fit_data).mean(axis=0)
                reference = Reference(fit.target, fitted)
    scores = task.metrics(
        held_out.target, pred.mean(axis=0), n_classes=fit.n_classes, reference=reference
    )
    return float(scores[task.primary])


class InnerObjective:
    """The Optuna objective of one outer split: the mean primary metric over inner folds.

    Args:
        cfg: the run config the trials start from.
        search: the search section (space, pruner...).
        train: the outer split's (labelled) training part: everything a trial may see.
        folds: inner splits of ``train`` (positions into it).
    """

    def __init__(
        self, cfg: RunConfig, search: SearchConfig, train: Cohort, folds: list[Split]
    ) -> None:
        self.cfg, self.search, self.train, self.folds = cfg, search, train, folds

    def __call__(self, trial: optuna.Trial) -> float:
        try:
            trial_cfg = trial_config(self.cfg, self.search, trial)
        except ValidationError as err:  # a combination the space's edges did not reveal
            log.warning("trial %d: its config does not validate: %s", trial.number, err)
            return float("nan")  # Optuna marks the trial failed and goes on
        scores: list[float] = []
        for k, fold in enumerate(self.folds):
            fit, held_out = self.train.subset(fold.train), self.train.subset(fold.test)
            scores.append(score_fold(trial_cfg, self.search.name(), fit, held_out, fold=k))
            if np.isnan(scores).all():
                continue
            running = float(np.nanmean(scores))
            trial.report(running, k)
            # after the last inner fold the score is there: pruning would only discard it
            if k < len(self.folds) - 1 and trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.nanmean(scores)) if not np.isnan(scores).all() else float("nan")
