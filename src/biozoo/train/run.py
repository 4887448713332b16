"""A whole run: read the cohort, run the experiment, write the run folder."""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from biozoo.config import RunConfig
from biozoo.data.cohort import Cohort
from biozoo.data.load import load_cohort
from biozoo.evaluate import leaderboard, summarize
from biozoo.train.experiment import ExperimentResult, Progress, run_experiment
from biozoo.train.runfolder import RunFolder
from biozoo.train.saving import save_ensemble, save_transforms

__all__ = ["RunResult", "train"]

log = logging.getLogger(__name__)

PACKAGES = ["biozoo", "torch", "lightning", "numpy", "pandas", "scikit-learn", "anndata"]


@dataclass
class RunResult:
    """What a finished run hands back: its folder, leaderboard and per-split metrics."""

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
) -> RunResult:
    """Run ``cfg`` end to end and write its run folder.

    Args:
        cfg: a validated run configuration.
        cohort: the data, if already loaded (else read from ``cfg.data``).
        out_dir: where the run folder goes (default ``cfg.output.dir``).
        progress: called with a short label before each fit.

    Returns:
        The finished run's folder, leaderboard and metrics.
    """
    t0 = time.perf_counter()
    cohort = cohort if cohort is not None else load_cohort(cfg.data)
    out = Path(out_dir) if out_dir is not None else cfg.output.dir
    with RunFolder(out, cfg.name) as folder:
        result = run_experiment(cfg, cohort, progress=progress)
        board = leaderboard(result.metrics, task=cohort.task, kinds=result.kinds)
        metrics = _metrics(cfg, cohort, result)
        seconds = time.perf_counter() - t0
        metrics["seconds"] = {"total": seconds, **result.seconds}
        _write(folder, cfg, cohort, result, board, metrics)
        if cfg.output.attributions and cfg.output.save_models:
            from biozoo.explain.explain_run import explain_run

            if progress:
                progress("attributions")
            explain_run(folder.tmp, cohort=cohort)
        if cfg.output.report:
            _report(folder.tmp)
        path = folder.commit()
    return RunResult(path, board, metrics, seconds)


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
        "training": result.training,
        "transforms": {
            split: {name: getattr(p, "report", {}) for name, p in ft.parts.items()}
            for split, ft in result.transforms.items()
        },
    }


def _write(folder, cfg, cohort, result, board, metrics) -> None:
    folder.write_text(
        "config.yaml", yaml.safe_dump(json.loads(cfg.model_dump_json()), sort_keys=False)
    )
    folder.write_json("versions.json", versions(cfg))
    folder.write_json("metrics.json", metrics)
    folder.write_csv("leaderboard.csv", board)
    folder.write_csv("predictions.csv", pd.concat(result.predictions, ignore_index=True))
    folder.write_csv(
        "splits.csv",
        pd.concat(
            [
                pd.DataFrame({"sample_id": cohort.ids[idx], "split": s.name, "part": part})
                for s in result.splits
                for part, idx in (("train", s.train), ("test", s.test))
            ],
            ignore_index=True,
        ),
    )
    for (model, name), frames in result.latents.items():
        folder.write_csv(f"latents/{model}/{name}.csv", pd.concat(frames, ignore_index=True))
    if cfg.output.save_models:
        for split, ft in result.transforms.items():
            save_transforms(folder.path(f"models/transforms/{split}.safetensors"), ft)
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
                folder.path(f"models/{fm.model}/{fm.split}.safetensors"),
                fm.ensemble.stacked_state(),
                meta,
            )


def _report(run_dir: Path) -> None:
    from biozoo.report import write_report

    try:
        write_report(run_dir)
    except Exception:  # the run itself is complete; a report failure must not lose it
        log.exception("could not write report.html in %s", run_dir)


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
