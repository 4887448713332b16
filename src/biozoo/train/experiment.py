"""An experiment: outer splits x (deep models with N-member ensembles + classical baselines).

Every method sees the same splits and the same fold-fitted transforms, so the leaderboard
compares like with like. Seeds come from the run seed and the split / model / member
positions only (never from Python's string hashing), so two runs of one config give the same
numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
import torch

from biozoo.config import RunConfig
from biozoo.data.batch import FoldData
from biozoo.data.cohort import Cohort
from biozoo.data.splits import Split, cohort_splits, inner_split
from biozoo.inputs import InputSpec
from biozoo.model import build_model
from biozoo.tasks import BaselineModel, Reference, Task
from biozoo.train.baselines import BASELINES
from biozoo.train.class_balance import fit_decision, loss_head
from biozoo.train.cross_attention import cross_attention_frame, has_cross_attention
from biozoo.train.decision import decided
from biozoo.train.device import on_device, resolve_device
from biozoo.train.embed import is_latent, reconstruction_metrics
from biozoo.train.ensemble import Ensemble, make_ensemble
from biozoo.train.fold import FittedTransforms, fit_transforms
from biozoo.train.plan import embed_members, fit_ensemble, predict_members
from biozoo.train.pretrain import pretrain_ensemble
from biozoo.train.progress import EpochListener, Progress
from biozoo.train.threads import torch_threads

__all__ = [
    "ExperimentResult",
    "FittedModel",
    "FoldModel",
    "Unit",
    "UnitJournal",
    "UnitRunner",
    "fit_model",
    "member_predictions",
    "member_seeds",
    "run_experiment",
    "run_splits",
    "run_unit",
    "split_transforms",
    "train_split_ensemble",
    "unit_device",
    "unit_labels",
    "units_of",
]

log = logging.getLogger(__name__)


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
    cross_attention: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    # (baseline name, split) -> fitted model, kept when the run saves its models
    baselines: dict[tuple[str, str], BaselineModel] = field(default_factory=dict)

    def add(self, unit: ExperimentResult) -> None:
        """Append one unit's results (see :func:`run_unit`); units are added in run order."""
        for name in ("metrics", "member_metrics", "training", "cross_attention", "latents"):
            into = getattr(self, name)
            for key, values in getattr(unit, name).items():
                into.setdefault(key, []).extend(values)
        self.predictions.extend(unit.predictions)
        self.models.extend(unit.models)
        self.baselines.update(unit.baselines)
        for key, s in unit.seconds.items():
            self.seconds[key] = self.seconds.get(key, 0.0) + s


@dataclass(frozen=True)
class Unit:
    """One independent piece of a run: the baselines (``model_index`` None) or one deep
    model, on one split. Its seeds depend on these positions only, so units can run in any
    order, in any process, and give the same results."""

    split_index: int
    model_index: int | None

    @property
    def key(self) -> str:
        """A file-name-safe name: ``s0-baselines``, ``s0-m1``."""
        what = "baselines" if self.model_index is None else f"m{self.model_index}"
        return f"s{self.split_index}-{what}"


def units_of(cfg: RunConfig, n_splits: int) -> list[Unit]:
    """The units of a run in the order a serial run trains them."""
    return [
        Unit(si, mi)
        for si in range(n_splits)
        for mi in ([None] if cfg.baselines else []) + list(range(len(cfg.models)))
    ]


class UnitJournal(Protocol):
    """Where a run records its finished units, and finds those an earlier attempt finished."""

    def load(self, unit: Unit) -> ExperimentResult | None:
        """The recorded results of ``unit``, or None when it has not finished."""

    def record(self, unit: Unit, result: ExperimentResult) -> None:
        """Record ``unit``'s results (atomically)."""


class UnitRunner(Protocol):
    """Runs the units of an experiment elsewhere (e.g. on a Dask cluster)."""

    def run(
        self,
        cfg: RunConfig,
        cohort: Cohort,
        splits: list[Split],
        journal: UnitJournal | None,
        progress: Progress | None,
    ) -> tuple[dict[str, FittedTransforms], list[ExperimentResult]]:
        """Each split's fitted transforms, and every unit's results in :func:`units_of` order."""


def member_seeds(seed: int, split_index: int, model_index: int, n: int) -> list[int]:
    """Initialisation seeds of one ensemble, from positions only."""
    ss = np.random.SeedSequence([seed, split_index, model_index])
    return [int(s) for s in ss.generate_state(n, dtype=np.uint32)]


def head_for(cohort: Cohort) -> torch.nn.Module:
    """The head of the cohort's task."""
    return cohort.task.head(cohort.n_classes)


def run_splits(cfg: RunConfig, cohort: Cohort) -> list[Split]:
    """The outer splits ``cfg`` asks for (``training.split``, the run seed).

    The splits are drawn over the labelled samples; every unlabelled sample (kept by
    ``data.unlabelled: keep``) joins every training part and no test part.
    """
    scored = cohort.labelled_part()
    splits = cohort_splits(
        scored, cfg.training.split, seed=cfg.training.seed, target=cfg.data.target
    )
    if cohort.labelled is not None:
        splits = [_with_unlabelled(s, cohort.labelled) for s in splits]
    return splits


def run_experiment(
    cfg: RunConfig,
    cohort: Cohort,
    *,
    progress: Progress | None = None,
    splits: list[Split] | None = None,
    journal: UnitJournal | None = None,
    runner: UnitRunner | None = None,
) -> ExperimentResult:
    """Train and evaluate every model and baseline of ``cfg`` on every split of ``cohort``.

    ``splits`` are :func:`run_splits`, made here unless the caller made them already. With a
    ``journal``, each finished :class:`Unit` is recorded there and a unit it already holds is
    read back instead of trained; a ``runner`` runs the units (e.g. on a Dask cluster)
    instead of this process, one after the other.
    """
    splits = run_splits(cfg, cohort) if splits is None else splits
    result = ExperimentResult(splits)
    for name in cfg.models:
        result.kinds[name] = "deep"
    for name in cfg.baselines:
        result.kinds[BASELINES.get(name).label_for(cohort.task)] = "baseline"
    if runner is not None:
        transforms, units = runner.run(cfg, cohort, splits, journal, progress)
        result.transforms.update(transforms)
        for unit in units:
            result.add(unit)
        return result
    for si, split in enumerate(splits):
        transforms = split_transforms(cfg, cohort, split)
        result.transforms[split.name] = transforms
        fold = None
        for unit in units_of(cfg, len(splits)):
            if unit.split_index != si:
                continue
            done = journal.load(unit) if journal is not None else None
            if done is None:
                if fold is None and unit.model_index is not None:
                    train, test = cohort.subset(split.train), cohort.subset(split.test)
                    fold = (transforms.fold_data(train), transforms.fold_data(test))
                done = run_unit(cfg, cohort, split, unit, transforms, fold=fold, progress=progress)
                if journal is not None:
                    journal.record(unit, done)
            elif progress:
                for label in unit_labels(cfg, cohort, unit):
                    progress(f"{split.name}: {label} (recorded)")
            result.add(done)
    return result


def split_transforms(cfg: RunConfig, cohort: Cohort, split: Split) -> FittedTransforms:
    """The transforms of ``split``, fitted on its labelled training part."""
    return fit_transforms(cohort.subset(split.train).labelled_part(), cfg.data)


def run_unit(
    cfg: RunConfig,
    cohort: Cohort,
    split: Split,
    unit: Unit,
    transforms: FittedTransforms,
    *,
    fold: tuple[FoldData, FoldData] | None = None,
    progress: Progress | None = None,
    threads: int | None = None,
) -> ExperimentResult:
    """Train and evaluate one unit (the baselines or one deep model) on ``split``.

    Args:
        cfg: the run's config.
        cohort: the whole cohort.
        split: the unit's split (position ``unit.split_index``).
        unit: which unit.
        transforms: ``split``'s fitted transforms (:func:`split_transforms`).
        fold: the transformed training and test parts, if already made.
        progress: called with a short label before each fit.
        threads: torch's thread count for a deep model (default ``training.threads``).

    Returns:
        The unit's results alone, to be :meth:`ExperimentResult.add`-ed in run order.
    """
    result = ExperimentResult([split])
    si, train, test = unit.split_index, cohort.subset(split.train), cohort.subset(split.test)
    if unit.model_index is None:
        labelled_train = train.labelled_part()
        _run_baselines(cfg, cohort, split, si, labelled_train, test, transforms, result, progress)
        return result
    mi = unit.model_index
    mname = list(cfg.models)[mi]
    if fold is None:
        fold = (transforms.fold_data(train), transforms.fold_data(test))
    if progress:
        progress(f"{split.name}: {mname}")
    t0 = time.perf_counter()
    listener = progress if isinstance(progress, EpochListener) else None
    with torch_threads(cfg.training.threads if threads is None else threads):
        _run_deep(
            cfg, cohort, split, si, mi, mname, train, test, transforms, fold, result,
            on_epoch=listener,
        )  # fmt: skip
    result.seconds[mname] = time.perf_counter() - t0
    return result


def unit_device(cfg: RunConfig, mname: str) -> torch.device:
    """Where model ``mname`` trains and is scored: ``training.accelerator`` on this machine.

    Raises:
        BiozooError: ``cuda`` on a machine without CUDA.
    """
    return resolve_device(cfg.training_for(mname).accelerator)


def unit_labels(cfg: RunConfig, cohort: Cohort, unit: Unit) -> list[str]:
    """The methods ``unit`` trains, as the leaderboard names them (one per progress step)."""
    if unit.model_index is None:
        return [BASELINES.get(name).label_for(cohort.task) for name in cfg.baselines]
    return [list(cfg.models)[unit.model_index]]


def _with_unlabelled(split: Split, labelled: np.ndarray) -> Split:
    """A split of the labelled samples (positions among them) in cohort positions, with every
    unlabelled sample added to its training part (and none to its test part)."""
    lab, unl = np.flatnonzero(labelled), np.flatnonzero(~labelled)
    train = np.sort(np.concatenate([lab[split.train], unl]))
    val = None if split.val is None else lab[split.val]
    return Split(split.name, train, lab[split.test], val)


def _run_baselines(cfg, cohort, split, si, train, test, transforms, result, progress) -> None:
    x_train, x_test = transforms.flat(train), transforms.flat(test)
    for name in cfg.baselines:
        cls = BASELINES.get(name)
        label = cls.label_for(cohort.task)
        if progress:
            progress(f"{split.name}: {label}")
        t0 = time.perf_counter()
        model = cls(
            task=cohort.task, seed=cfg.training.seed + si, accelerator=cfg.training.accelerator
        ).fit(x_train, train.target, n_classes=cohort.n_classes)
        pred = model.predict(x_test)
        reference = None
        if cohort.task.needs_reference:
            reference = Reference(train.target, model.predict(x_train))
        result.seconds[label] = result.seconds.get(label, 0.0) + time.perf_counter() - t0
        if cfg.output.save_models and model.model_ is not None:
            result.baselines[(name, split.name)] = model.model_
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
    validation: np.ndarray | None = None,
    labelled: np.ndarray | None = None,
    on_epoch: EpochListener | None = None,
) -> tuple[Ensemble, dict[str, object], np.ndarray, np.ndarray]:
    """Train model ``mname``'s ensemble on one split's (transformed) training part.

    The inner validation split for early stopping is ``validation`` (positions into the
    training part) when the split prescribes one, else drawn from the run seed and the split
    position; every seed comes from the run seed and the split / model positions. With
    ``labelled`` (False for a sample without a label), a drawn validation part holds labelled
    samples only and every unlabelled one is fitted on. The fit options are the model's own
    (:meth:`~biozoo.config.RunConfig.training_for`). ``on_epoch`` hears each epoch's mean
    validation loss.

    Returns:
        The trained ensemble, the training summary (with its per-epoch ``history`` frame),
        and the positions (into the training part) of the fit and validation samples.
    """
    tr = cfg.training_for(mname)
    si, mi = split_index, model_index
    if validation is not None:
        fit_pos = np.setdiff1d(np.arange(len(train_target)), validation)
        val_pos = np.asarray(validation, dtype=np.int64)
    else:
        lab = np.arange(len(train_target)) if labelled is None else np.flatnonzero(labelled)
        fit_pos, val_pos = inner_split(
            train_target[lab],
            stratify=None if stratify is None else stratify[lab],
            val_fraction=tr.val_fraction,
            seed=tr.seed + si,
        )
        fit_pos, val_pos = lab[fit_pos], lab[val_pos]
        if labelled is not None:
            fit_pos = np.sort(np.concatenate([fit_pos, np.flatnonzero(~labelled)]))
    fit_data = train_data.take(torch.from_numpy(fit_pos))
    val_data = train_data.take(torch.from_numpy(val_pos))
    spec = cfg.models[mname]
    seeds = member_seeds(tr.seed, si, mi, tr.ensemble)

    def make_model() -> torch.nn.Module:
        return build_model(spec, inputs, head.n_outputs)

    ensemble = make_ensemble(make_model, seeds)
    device = unit_device(cfg, mname)
    pretrained: dict[str, object] = {}
    if tr.pretrain is not None:  # self-supervised, on this split's training part only
        pretrained = pretrain_ensemble(
            ensemble,
            make_model,
            train_data,
            tr.pretrain,
            batch_size=tr.batch_size,
            weight_decay=tr.weight_decay,
            seed=seeds[0],
            device=device,
        )
    y_fit = train_target[fit_pos if labelled is None else fit_pos[labelled[fit_pos]]]
    info = fit_ensemble(
        ensemble,
        loss_head(head, tr, y_fit),
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
        on_epoch=on_epoch,
        device=device,
    )
    saved_inputs = {m: d.to_meta() for m, d in inputs.items()}
    if tr.decision != "argmax":  # fitted on the inner validation rows, saved with the weights
        with on_device(ensemble, device):
            p_val = predict_members(ensemble, head, val_data).numpy().mean(axis=0)
        rule = fit_decision(head, tr, y_val=train_target[val_pos], p_val=p_val, y_fit=y_fit)
        info["decision"] = rule.state()
    summary = {"in_dims": saved_inputs, "seeds": seeds, **pretrained, **info}
    return ensemble, summary, fit_pos, val_pos


def member_predictions(
    ensemble: Ensemble, head: torch.nn.Module, transforms: FittedTransforms, data: FoldData
) -> np.ndarray:
    """Every member's predictions, on the target's scale (the fold's target transform
    undone): ``[M, n, C]`` or ``[M, n]``."""
    members = predict_members(ensemble, head, data).numpy()
    return transforms.target.inverse_transform(members)


@dataclass
class FittedModel:
    """One model of a config trained on a whole cohort (see :func:`fit_model`).

    Attributes:
        transforms: the modalities' parts (and target scaler), fitted on the cohort.
        head: the task head.
        ensemble: the trained ensemble.
        task: the cohort's task.
        info: the training summary (epochs run, best epochs and validation losses, seeds,
            the per-epoch ``history`` frame).
        device: where it trained and predicts (the ensemble is kept on the CPU between
            predictions).
    """

    transforms: FittedTransforms
    head: torch.nn.Module
    ensemble: Ensemble
    task: Task
    info: dict[str, object]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def predict(self, cohort: Cohort) -> np.ndarray:
        """The members' mean prediction: probabilities ``[n, C]`` or values ``[n]``."""
        data = self.transforms.fold_data(cohort)
        with on_device(self.ensemble, self.device):
            members = member_predictions(self.ensemble, self.head, self.transforms, data)
        return decided(self.info, members.mean(axis=0))


def fit_model(cfg: RunConfig, model: str, cohort: Cohort) -> FittedModel:
    """Fit the transforms on all of ``cohort`` and train model ``model`` of ``cfg`` on it.

    The same training as one split of :func:`run_experiment` (split position 0, under
    ``training.threads``): the inner validation part for early stopping is drawn from
    ``cohort``.

    Raises:
        ValueError: ``model`` is not one of ``cfg.models``.
    """
    transforms = fit_transforms(cohort, cfg.data)
    head = head_for(cohort)
    with torch_threads(cfg.training.threads):
        ensemble, info, _, _ = train_split_ensemble(
            cfg,
            model,
            transforms.fold_data(cohort),
            cohort.target,
            inputs=transforms.inputs,
            stratify=cohort.stratify_labels,
            head=head,
            split_index=0,
            model_index=list(cfg.models).index(model),
            labelled=cohort.labelled,
        )
    return FittedModel(transforms, head, ensemble, cohort.task, info, unit_device(cfg, model))


def _run_deep(
    cfg, cohort, split, si, mi, mname, train, test, transforms, fold, result, on_epoch=None
) -> None:
    train_data, test_data = fold
    head = head_for(cohort)
    ensemble, info, fit_pos, val_pos = train_split_ensemble(
        cfg,
        mname,
        train_data,
        train.target,
        inputs=transforms.inputs,
        stratify=cohort.task.stratify_labels(train.target),
        head=head,
        split_index=si,
        model_index=mi,
        validation=split.val_in_train(),
        labelled=train.labelled,
        on_epoch=on_epoch,
    )
    history = info.pop("history")
    summary = {k: v for k, v in info.items() if k not in ("in_dims", "seeds")}
    result.training.setdefault(mname, []).append({"split": split.name, **summary})
    ensemble.to(unit_device(cfg, mname))  # scored where it trained
    members = member_predictions(ensemble, head, transforms, test_data)
    mean = decided(info, members.mean(axis=0))
    members = decided(info, members)
    references: list[Reference | None] = [None] * len(members)
    reference = None
    if cohort.task.needs_reference:
        lab = train.labelled_positions()
        fitted = member_predictions(ensemble, head, transforms, train_data)[:, lab]
        train_target = train.target[lab]
        references = [Reference(train_target, p) for p in fitted]
        reference = Reference(train_target, fitted.mean(axis=0))
    _record(result, mname, split, test, mean, cohort, reference)
    if is_latent(ensemble):  # reconstruction of the held-out samples, beside the task's metrics
        result.metrics[mname][-1].update(reconstruction_metrics(ensemble, test_data))
    result.member_metrics.setdefault(mname, []).append(
        [
            cohort.task.metrics(test.target, p, n_classes=cohort.n_classes, reference=r)
            for p, r in zip(members, references, strict=True)
        ]
    )
    result.models.append(FoldModel(mname, split.name, ensemble, info, history))
    if has_cross_attention(ensemble):
        frame = _cross_attention(cohort, test, transforms, test_data, ensemble)
        frame.insert(0, "split", split.name)
        result.cross_attention.setdefault(mname, []).append(frame)
    if cfg.output.latents:
        _record_latents(result, mname, split, cohort, transforms, ensemble, fit_pos, val_pos)
    ensemble.cpu()  # saved and sent between processes from the CPU


_MAPS = 4  # test samples per split whose cross-attention maps are written


def _cross_attention(cohort, test, transforms, test_data, ensemble) -> pd.DataFrame:
    """Cross-attention of the first test samples (the one modality's tokens named)."""
    ((mod, part),) = transforms.parts.items()
    rows = np.flatnonzero(test_data.present[mod].numpy())[:_MAPS]
    x, names = test_data.inputs[mod], part.token_names()
    key_tokens = None
    if names is not None and isinstance(x, dict) and "tokens" in x:
        key_tokens = [[names[int(t)] for t in x["tokens"][r].tolist()] for r in rows]
    ids = [str(s) for s in test.ids[rows]]
    return cross_attention_frame(ensemble, test_data, rows, ids, key_tokens, cohort.task.letters)


def _record(result, method, split, test, pred, cohort, reference=None) -> None:
    task = cohort.task
    result.metrics.setdefault(method, []).append(
        task.metrics(test.target, pred, n_classes=cohort.n_classes, reference=reference)
    )
    frame = {"sample_id": test.ids, "split": split.name, "method": method}
    frame |= task.prediction_columns(test.target, pred, classes=cohort.classes, reference=reference)
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
