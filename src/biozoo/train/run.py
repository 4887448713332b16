"""Training a run: read the cohort, run the experiment, write the run folder."""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from biozoo._atomic import atomic_file
from biozoo.compare import paired_summary
from biozoo.config import RunConfig
from biozoo.data.align import load_cohort
from biozoo.data.cohort import Cohort
from biozoo.evaluate import leaderboard, summarize
from biozoo.resolved import resolved_config
from biozoo.train.device import check_accelerator
from biozoo.train.experiment import (
    ExperimentResult,
    Progress,
    UnitRunner,
    head_for,
    run_experiment,
    run_splits,
)
from biozoo.train.resume import check_resumable
from biozoo.train.runfolder import RunFolder
from biozoo.train.saved_baselines import save_baseline
from biozoo.train.saving import save_ensemble, save_transforms
from biozoo.train.units import RunJournal

__all__ = ["RunResult", "train"]

PACKAGES = ["biozoo", "torch", "lightning", "numpy", "pandas", "scikit-learn", "anndata"]


@dataclass
class RunResult:
    """What a finished run hands back: its folder, leaderboard and per-split metrics.

    ``seconds`` is the whole run's wall time, explanations and report included
    (``metrics["seconds"]["total"]`` is the training and evaluation time alone).
    """

    path: Path
    leaderboard: pd.DataFrame
    metrics: dict[str, object]
    seconds: float


def train(
    cfg: RunConfig,
    *,
    cohort: Cohort | None = None,
    out_dir: Path | None = None,
    progress: Progress | None = None,
    finish: Callable[[Path, Cohort], None] | None = None,
    extend: Callable[[ExperimentResult, RunFolder], None] | None = None,
    resume: Path | None = None,
    runner: UnitRunner | None = None,
) -> RunResult:
    """Train and evaluate ``cfg``'s models and baselines and write its run folder.

    Args:
        cfg: a validated run configuration.
        cohort: the data, if already loaded (else read from ``cfg.data``).
        out_dir: where the run folder goes (default ``cfg.output.dir``).
        progress: called with a short label before each fit.
        finish: called with the complete but still temporary folder and the cohort, before
            the folder gets its final name (:func:`biozoo.api.run` adds explanations and the
            report there, so they are part of the finished run).
        extend: called with the experiment's result and the open run folder before the
            leaderboard is made; it may add methods to the result and files to the folder
            (``biozoo search`` adds its searched model there).
        resume: an unfinished run folder of ``cfg`` (left by a killed or interrupted run) to
            finish: its recorded units are read back, the others trained, and the run is
            finished beside it (``out_dir`` is not used).
        runner: runs the units elsewhere (e.g. :class:`biozoo.train.distributed.DaskRunner`).

    Returns:
        The finished run's folder, leaderboard and metrics.
    """
    t0 = time.perf_counter()
    if runner is None:  # units run here; on a runner, the workers' machines decide
        check_accelerator(cfg.training.accelerator)
    cohort = cohort if cohort is not None else load_cohort(cfg.data)
    splits = run_splits(cfg, cohort)  # a split that cannot be made fails before any folder
    out = Path(out_dir) if out_dir is not None else cfg.output.dir
    if resume is not None:
        check_resumable(resume, cfg)
        out = Path(resume).parent
    with RunFolder(out, cfg.name, resume=resume) as folder:
        with atomic_file(folder.path(folder.layout.config)) as tmp:  # marks a resumable run
            tmp.write_text(_config_text(cfg))
        journal = RunJournal(folder.layout.units, cfg, head_for(cohort).n_outputs)
        result = run_experiment(
            cfg, cohort, progress=progress, splits=splits, journal=journal, runner=runner
        )
        if extend is not None:
            extend(result, folder)
        board = leaderboard(result.metrics, task=cohort.task, kinds=result.kinds)
        metrics = _metrics(cfg, cohort, result)
        seconds = time.perf_counter() - t0
        metrics["seconds"] = {"total": seconds, **result.seconds}
        _write(folder, cfg, cohort, result, board, metrics)
        if finish is not None:
            finish(folder.layout.root, cohort)
        path = folder.commit()
    return RunResult(path, board, metrics, time.perf_counter() - t0)


def _metrics(cfg: RunConfig, cohort: Cohort, result: ExperimentResult) -> dict[str, object]:
    return {
        "task": cohort.task.name,
        "classes": cohort.classes,
        "n_samples": len(cohort),
        "modalities": {k: m.n_features for k, m in cohort.modalities.items()},
        "modality_kinds": {k: m.kind for k, m in cohort.modalities.items()},
        "splits": [s.name for s in result.splits],
        "summary": {m: summarize(v) for m, v in result.metrics.items()},
        "per_split": result.metrics,
        "members": {m: [summarize(per) for per in v] for m, v in result.member_metrics.items()},
        "paired": paired_summary(
            result.metrics,
            result.kinds,
            [(len(s.train), len(s.test)) for s in result.splits],
            metric=cohort.task.primary,
            higher_is_better=cohort.task.higher_is_better[cohort.task.primary],
        ),
        "training": result.training,
        "transforms": {
            split: {name: getattr(p, "report", {}) for name, p in ft.parts.items()}
            for split, ft in result.transforms.items()
        },
    }


def _write(folder, cfg, cohort, result, board, metrics) -> None:
    layout = folder.layout
    folder.write_text(layout.config, _config_text(cfg))
    folder.write_json(layout.versions, versions(cfg))
    folder.write_json(layout.metrics, metrics)
    folder.write_csv(layout.leaderboard, board)
    folder.write_csv(layout.predictions, pd.concat(result.predictions, ignore_index=True))
    folder.write_csv(
        layout.splits_csv,
        pd.concat(
            [
                pd.DataFrame({"sample_id": cohort.ids[idx], "split": s.name, "part": part})
                for s in result.splits
                for part, idx in (("train", s.train), ("test", s.test))
            ],
            ignore_index=True,
        ),
    )
    for fm in result.models:
        if fm.history is not None:
            folder.write_csv(layout.history(fm.model, fm.split), fm.history)
    for model, frames in result.cross_attention.items():
        folder.write_csv(layout.cross_attention(model), pd.concat(frames, ignore_index=True))
    for (model, name), frames in result.latents.items():
        folder.write_csv(layout.latent(model, name), pd.concat(frames, ignore_index=True))
    if cfg.output.save_models:
        for split, ft in result.transforms.items():
            save_transforms(folder.path(layout.transforms(split)), ft)
        for fm in result.models:
            meta = {
                "model": fm.model,
                "split": fm.split,
                "task": cohort.task.name,
                "classes": cohort.classes,
                "n_members": fm.ensemble.n_members,
                **fm.meta,
            }
            save_ensemble(
                folder.path(layout.ensemble(fm.model, fm.split)),
                fm.ensemble.stacked_state(),
                meta,
            )
        for (name, split), model in result.baselines.items():
            save_baseline(folder.path(layout.baseline(name, split)), model)


def _config_text(cfg: RunConfig) -> str:
    """config.yaml: the resolved config."""
    return yaml.safe_dump(json.loads(resolved_config(cfg).model_dump_json()), sort_keys=False)


def versions(cfg: RunConfig) -> dict[str, object]:
    """Python, platform and package versions, and the run's seed."""
    pkgs = {}
    for p in PACKAGES:
        try:
            pkgs[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pkgs[p] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": pkgs,
        "seed": cfg.training.seed,
    }
