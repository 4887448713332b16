"""An experiment: outer splits x (deep models with N-member ensembles + classical baselines).

Every method sees the same splits and the same fold-fitted transforms, so the leaderboard
compares like with like. Seeds come from the run seed and the split / model / member
positions only (never from Python's string hashing), so two runs of one config give the same
numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from biozoo.config import RunConfig
from biozoo.data.batch import FoldData
from biozoo.data.cohort import Cohort
from biozoo.data.splits import Split, inner_split, make_splits
from biozoo.inputs import InputSpec
from biozoo.model import build_model
from biozoo.tasks import Reference
from biozoo.train.baselines import BASELINES
from biozoo.train.ensemble import Ensemble, make_ensemble
from biozoo.train.fold import FittedTransforms, fit_transforms
from biozoo.train.plan import embed_members, fit_ensemble, predict_members

__all__ = [
    "ExperimentResult",
    "FoldModel",
    "member_seeds",
    "run_experiment",
    "train_split_ensemble",
]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class FoldModel:
    """A trained ensemble of one split, with what ``predict`` needs to rebuild it.

    ``history`` is every member's loss per epoch (:mod:`biozoo.train.history`).
    """

    model: str
    split: str
    ensemble: Ensemble
    meta: dict[str, object]
    history: pd.DataFrame | None = None


@dataclass
class ExperimentResult:
    splits: list[Split]
    kinds: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    member_metrics: dict[str, list[list[dict[str, float]]]] = field(default_factory=dict)
    predictions: list[pd.DataFrame] = field(default_factory=list)
    latents: dict[tuple[str, str], list[pd.DataFrame]] = field(default_factory=dict)
    transforms: dict[str, FittedTransforms] = field(default_factory=dict)
    models: list[FoldModel] = field(default_factory=list)
    training: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def member_seeds(seed: int, split_index: int, model_index: int, n: int) -> list[int]:
    """Initialisation seeds of one ensemble, from positions only."""
    ss = np.random.SeedSequence([seed, split_index, model_index])
    return [int(s) for s in ss.generate_state(n, dtype=np.uint32)]


def head_for(cohort: Cohort) -> torch.nn.Module:
    """The head of the cohort's task."""
    return cohort.task.head(cohort.n_classes)


def run_experiment(
    cfg: RunConfig, cohort: Cohort, *, progress: Progress | None = None
) -> ExperimentResult:
    """Train and evaluate every model and baseline of ``cfg`` on every split of ``cohort``."""
    tr = cfg.training
    splits = make_splits(
        cohort.target,
        stratify=cohort.stratify_labels,
        kind=tr.split.kind,
        folds=tr.split.folds,
        repeats=tr.split.repeats,
        test_size=tr.split.test_size,
        seed=tr.seed,
    )
    result = ExperimentResult(splits)
    for name in cfg.models:
        result.kinds[name] = "deep"
    for name in cfg.baselines:
        result.kinds[BASELINES.get(name).label_for(cohort.task)] = "baseline"
    for si, split in enumerate(splits):
        train, test = cohort.subset(split.train), cohort.subset(split.test)
        transforms = fit_transforms(train, cfg.data)
        result.transforms[split.name] = transforms
        _run_baselines(cfg, cohort, split, si, train, test, transforms, result, progress)
        fold = (transforms.fold_data(train), transforms.fold_data(test))
        for mi, mname in enumerate(cfg.models):
            if progress:
                progress(f"{split.name}: {mname}")
            t0 = time.perf_counter()
            _run_deep(cfg, cohort, split, si, mi, mname, test, transforms, fold, result)
            result.seconds[mname] = result.seconds.get(mname, 0.0) + time.perf_counter() - t0
    return result


def _run_baselines(cfg, cohort, split, si, train, test, transforms, result, progress) -> None:
    x_train, x_test = transforms.flat(train), transforms.flat(test)
    for name in cfg.baselines:
        cls = BASELINES.get(name)
        label = cls.label_for(cohort.task)
        if progress:
            progress(f"{split.name}: {label}")
        t0 = time.perf_counter()
        model = cls(task=cohort.task, seed=cfg.training.seed + si).fit(
            x_train, train.target, n_classes=cohort.n_classes
        )
        pred = model.predict(x_test)
        reference = None
        if cohort.task.needs_reference:
            reference = Reference(train.target, model.predict(x_train))
        result.seconds[label] = result.seconds.get(label, 0.0) + time.perf_counter() - t0
        _record(result, label, split, test, pred, cohort, reference)


def train_split_ensemble(
    cfg: RunConfig,
    mname: str,
    train_data: FoldData,
    train_target: np.ndarray,
    *,
    inputs: Mapping[str, InputSpec],
    stratify: np.ndarray | None,
    head: torch.nn.Module,
    split_index: int,
    model_index: int,
) -> tuple[Ensemble, dict[str, object], np.ndarray, np.ndarray]:
    """Train model ``mname``'s ensemble on one split's (transformed) training part.

    The inner validation split for early stopping and every seed come from the run seed and
    the split / model positions.

    Returns:
        The trained ensemble, the training summary (with its per-epoch ``history`` frame),
        and the positions (into the training part) of the fit and validation samples.
    """
    tr = cfg.training
    si, mi = split_index, model_index
    fit_pos, val_pos = inner_split(
        train_target, stratify=stratify, val_fraction=tr.val_fraction, seed=tr.seed + si
    )
    fit_data = train_data.take(torch.from_numpy(fit_pos))
    val_data = train_data.take(torch.from_numpy(val_pos))
    spec = cfg.models[mname]
    seeds = member_seeds(tr.seed, si, mi, tr.ensemble)
    ensemble = make_ensemble(lambda: build_model(spec, inputs, head.n_outputs), seeds)
    info = fit_ensemble(
        ensemble,
        head,
        fit_data,
        val_data,
        epochs=tr.epochs,
        batch_size=tr.batch_size,
        patience=tr.patience,
        optimizer=tr.optimizer,
        lr=tr.lr,
        weight_decay=tr.weight_decay,
        gradient_clip=tr.gradient_clip,
        seed=member_seeds(tr.seed, si, mi, 1)[0],
        optimizer_options=tr.optimizer_options,
        schedule=None if tr.schedule is None else tr.schedule.model_dump(),
        gradient_noise=tr.gradient_noise,
    )
    saved_inputs = {m: d.to_meta() for m, d in inputs.items()}
    return ensemble, {"in_dims": saved_inputs, "seeds": seeds, **info}, fit_pos, val_pos


def _run_deep(cfg, cohort, split, si, mi, mname, test, transforms, fold, result) -> None:
    train_data, test_data = fold
    head = head_for(cohort)
    ensemble, info, fit_pos, val_pos = train_split_ensemble(
        cfg,
        mname,
        train_data,
        cohort.target[split.train],
        inputs=transforms.inputs,
        stratify=cohort.task.stratify_labels(cohort.target[split.train]),
        head=head,
        split_index=si,
        model_index=mi,
    )
    history = info.pop("history")
    summary = {k: v for k, v in info.items() if k not in ("in_dims", "seeds")}
    result.training.setdefault(mname, []).append({"split": split.name, **summary})
    members = predict_members(ensemble, head, test_data).numpy()  # (M, n, C) or (M, n)
    members = transforms.target.inverse_transform(members)
    references: list[Reference | None] = [None] * len(members)
    reference = None
    if cohort.task.needs_reference:
        fitted = transforms.target.inverse_transform(
            predict_members(ensemble, head, train_data).numpy()
        )
        train_target = cohort.target[split.train]
        references = [Reference(train_target, p) for p in fitted]
        reference = Reference(train_target, fitted.mean(axis=0))
    _record(result, mname, split, test, members.mean(axis=0), cohort, reference)
    result.member_metrics.setdefault(mname, []).append(
        [
            cohort.task.metrics(test.target, p, n_classes=cohort.n_classes, reference=r)
            for p, r in zip(members, references, strict=True)
        ]
    )
    result.models.append(FoldModel(mname, split.name, ensemble, info, history))
    if cfg.output.latents:
        _record_latents(result, mname, split, cohort, transforms, ensemble, fit_pos, val_pos)


def _record(result, method, split, test, pred, cohort, reference=None) -> None:
    task = cohort.task
    result.metrics.setdefault(method, []).append(
        task.metrics(test.target, pred, n_classes=cohort.n_classes, reference=reference)
    )
    frame = {"sample_id": test.ids, "split": split.name, "method": method}
    frame |= task.prediction_columns(
        test.target, pred, classes=cohort.classes, reference=reference
    )
    result.predictions.append(pd.DataFrame(frame))


def _record_latents(result, mname, split, cohort, transforms, ensemble, fit_pos, val_pos) -> None:
    """Every member's embeddings of every sample, with the part each sample played."""
    part = np.full(len(cohort), "test", dtype=object)
    part[split.train[fit_pos]] = "fit"
    part[split.train[val_pos]] = "validation"
    z = embed_members(ensemble, transforms.fold_data(cohort))
    for name, emb in z.items():
        emb = emb.numpy()
        for m in range(emb.shape[0]):
            frame = pd.DataFrame(emb[m], columns=[f"z{j}" for j in range(emb.shape[2])])
            frame.insert(0, "part", part)
            frame.insert(0, "member", m)
            frame.insert(0, "split", split.name)
            frame.insert(0, "sample_id", cohort.ids)
            result.latents.setdefault((mname, name), []).append(frame)
