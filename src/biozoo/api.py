"""The library's front door: what the CLI and ``biozoo.*`` call.

- :func:`run` trains a config, then explains (``output.attributions``) and writes the report
  into the same, still temporary, run folder;
- :func:`predict`, :func:`explain`, :func:`export` and :func:`report` work on a finished run;
- :func:`search` searches architectures and hyperparameters by nested evaluation
  (:func:`load_search` reads a config with a ``search:`` section);
- :func:`load_config` / :func:`parse_config` read a config and :func:`check_config` checks its
  part names and options against the registries.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from biozoo import config as schema
from biozoo.config import DataConfig, FitOptions, PartSpec, RunConfig
from biozoo.data.spec import describe_error
from biozoo.errors import BiozooError

if TYPE_CHECKING:  # the heavy floors are imported when a function needs them
    import pandas as pd

    from biozoo.data.cohort import Cohort
    from biozoo.search.space import SearchConfig
    from biozoo.train.distributed import DaskRunner
    from biozoo.train.experiment import Progress, UnitRunner
    from biozoo.train.run import RunResult

__all__ = [
    "check_config",
    "embed",
    "explain",
    "export",
    "load_config",
    "load_search",
    "parse_config",
    "predict",
    "report",
    "run",
    "search",
]

log = logging.getLogger(__name__)

Backend = Literal["float", "int8"]


def check_config(cfg: RunConfig, *, source: str = "config") -> RunConfig:
    """Check every registered name and its options; return ``cfg``.

    Raises:
        BiozooError: an unknown name or option, naming its location in ``source``.
    """
    try:
        _check_parts(cfg)
    except ValueError as err:
        raise BiozooError(f"{source}: {err}.".replace("..", ".")) from None
    return cfg


def parse_config(raw: dict[str, Any], *, source: str = "config") -> RunConfig:
    """Validate a mapping into a checked :class:`RunConfig` (see :func:`check_config`)."""
    return check_config(schema.parse_config(raw, source=source), source=source)


def load_config(path: str | Path) -> RunConfig:
    """Read a run config from YAML and check it (see :func:`biozoo.config.load_config`)."""
    return check_config(schema.load_config(path), source=str(path))


def run(
    cfg: RunConfig,
    *,
    cohort: Cohort | None = None,
    out_dir: Path | None = None,
    progress: Progress | None = None,
    resume: Path | None = None,
    runner: UnitRunner | None = None,
) -> RunResult:
    """Run ``cfg`` end to end: train, explain (``output.attributions``), report, and log it
    to MLflow (``output.mlflow``).

    Args:
        cfg: a validated run configuration.
        cohort: the data, if already loaded (else read from ``cfg.data``).
        out_dir: where the run folder goes (default ``cfg.output.dir``).
        progress: called with a short label before each fit.
        resume: an unfinished run folder of ``cfg`` to finish (see
            :func:`biozoo.train.run.train`).
        runner: runs the units elsewhere, e.g. a
            :class:`~biozoo.train.distributed.DaskRunner`.

    Returns:
        A :class:`~biozoo.train.run.RunResult`: the finished run's folder, leaderboard and
        metrics.
    """
    from biozoo.train.run import train

    check_config(cfg)
    tracker = None
    if cfg.output.mlflow:  # opened before training: a wrong URI fails now, not after it
        from biozoo.train.tracking import MlflowTracker

        tracker = MlflowTracker(cfg.output.mlflow, cfg.name)
    finish = _finisher(cfg, progress)
    result = train(
        cfg,
        cohort=cohort,
        out_dir=out_dir,
        progress=progress,
        finish=finish,
        resume=resume,
        runner=runner,
    )
    if tracker is not None:
        try:
            tracker.log(result.path)
        except BiozooError as err:  # the run folder is complete; say so, keep it
            log.warning("%s The run folder %s is complete.", err, result.path)
    return result


def _finisher(cfg: RunConfig, progress: Progress | None) -> Any:
    """What a run does in its still temporary folder: explanations, then the report."""

    def finish(folder: Path, data: Cohort) -> None:
        if cfg.output.attributions and cfg.output.save_models:
            if progress:
                progress("attributions")
            explain(folder, cohort=data, rewrite_report=False)
        if cfg.output.report:
            try:
                report(folder)
            except Exception:  # the run itself is complete; a report failure must not lose it
                log.exception("could not write report.html in %s", folder)

    return finish


def load_search(path: str | Path) -> tuple[RunConfig, SearchConfig]:
    """Read a search config (a run config with a ``search:`` section) and check both parts
    (see :func:`biozoo.search.check.load_search`)."""
    from biozoo.search.check import load_search as read_search

    cfg, space = read_search(path)
    return check_config(cfg, source=str(path)), space


def search(
    cfg: RunConfig,
    space: SearchConfig,
    *,
    cohort: Cohort | None = None,
    out_dir: Path | None = None,
    storage: str | None = None,
    progress: Progress | None = None,
    runner: DaskRunner | None = None,
) -> RunResult:
    """Search ``space`` by nested evaluation and write a run folder with the searched row.

    For each outer split of ``cfg``, an Optuna study searches the split's training part
    alone, the best trial's configuration is retrained on the whole training part and scored
    once on the test part (see :func:`biozoo.search.nested.run_search`). The config's own
    models and baselines run on the same splits beside it.

    Args:
        cfg: the run config.
        space: its ``search`` section (:func:`load_search`).
        cohort: the data, if already loaded.
        out_dir: where the run folder goes (default ``cfg.output.dir``).
        storage: an Optuna storage URL shared by several workers (``postgresql://...``);
            default: an SQLite file in the run folder.
        progress: called with a short label before each fit and after each trial.
        runner: a Dask cluster (:func:`biozoo.train.distributed.dask_runner`) for the run's
            units and each split's trials; ``storage`` must then be one every worker reaches
            (the default SQLite file serves a local cluster only). A parallel search may try
            other values than a serial one with the same seed.

    Raises:
        BiozooError: the storage cannot be reached (before any folder is made).
    """
    from biozoo.search.nested import run_search
    from biozoo.search.study import open_storage

    check_config(cfg)
    shared = None if storage is None else open_storage(storage, heartbeat=space.heartbeat)
    return run_search(
        cfg,
        space,
        cohort=cohort,
        out_dir=out_dir,
        storage=shared,
        progress=progress,
        finish=_finisher(cfg, progress),
        runner=runner,
    )


def predict(
    run: Path,
    data: DataConfig | dict[str, Path],
    *,
    model: str | None = None,
    split: str | None = None,
    backend: Backend | None = None,
    method: str | None = None,
    device: str | None = None,
) -> pd.DataFrame:
    """Predictions of a run's saved ensembles (see :func:`biozoo.train.predict.predict`).

    Args:
        run: a run folder, or its int8 export.
        data: modality name -> table path, or a full data section.
        model: one of the run's deep models (default: every one).
        split: one split's ensemble (default: the average over every split's ensemble).
        backend: ``float`` or ``int8``; default: ``int8`` for an int8 export, else ``float``.
        method: a deep model or a saved baseline (config name or leaderboard label) instead
            of ``model``.
        device: ``auto``, ``cpu`` or ``cuda``: where the saved models score (default: the
            run's ``training.accelerator``, the CPU where CUDA is absent); an int8 export
            scores on the CPU.

    Returns:
        A DataFrame: one row per sample and model.
    """
    from biozoo.train.device import resolve_device
    from biozoo.train.export import is_int8_export, open_int8
    from biozoo.train.predict import predict as predict_run
    from biozoo.train.saved_run import SavedRun

    if backend is None:
        backend = "int8" if is_int8_export(run) else "float"
    if backend not in ("float", "int8"):
        raise BiozooError(f"unknown backend {backend!r}; use float or int8.")
    if backend == "float" and is_int8_export(run):
        raise BiozooError(f"{run} is an int8 export; score it with the int8 backend.")
    if device is not None:
        resolve_device(device, where="device")  # not a device, or cuda without it: refused
    if backend == "int8" and device == "cuda":
        raise BiozooError("an int8 export scores on the CPU only, not on device 'cuda'.")
    saved = open_int8(run) if backend == "int8" else SavedRun(run, device=device)
    return predict_run(saved, data, model=model, split=split, method=method)


def embed(
    run: Path,
    data: DataConfig | dict[str, Path],
    *,
    model: str | None = None,
    split: str | None = None,
    member: int = 0,
    device: str | None = None,
) -> pd.DataFrame:
    """Latent coordinates of new samples (see :func:`biozoo.train.embed.embed`).

    Args:
        run: a finished run folder.
        data: modality name -> table path, or a full data section.
        model: one of the run's latent models (default: every one).
        split: the split whose ensemble embeds (default: the first).
        member: the member of that ensemble (latent spaces of members are not aligned).
        device: ``auto``, ``cpu`` or ``cuda``: where the saved models embed (default: the
            run's ``training.accelerator``, the CPU where CUDA is absent).

    Returns:
        One row per sample and model: posterior means ``mean_j`` and variances ``var_j``.
    """
    from biozoo.train.embed import embed as embed_run
    from biozoo.train.saved_run import SavedRun

    saved = SavedRun(run, device=device)
    return embed_run(saved, data, model=model, split=split, member=member)


def explain(
    run: Path, *, rewrite_report: bool = True, cohort: Cohort | None = None, **options: Any
) -> dict[str, object]:
    """Explain a run's saved models (see :func:`biozoo.explain.explain_run.explain_run`).

    Args:
        run: a finished run folder.
        rewrite_report: rewrite its report.html afterwards, to show the explanations (the
            path is returned under ``"report"``).
        cohort: the run's data, if already loaded.
        **options: ``method``, ``models``, ``overwrite``, ``device``... of ``explain_run``.
    """
    from biozoo.explain.explain_run import explain_run

    result = explain_run(run, cohort=cohort, **options)
    if rewrite_report:
        result["report"] = str(report(run))
    return result


def export(run: Path, *, out: Path | None = None) -> Path:
    """A dynamic int8 copy of a run's ensembles (see :func:`biozoo.train.export.export_int8`)."""
    from biozoo.train.export import export_int8

    return export_int8(run, out=out)


def report(run: Path) -> Path:
    """(Re)write ``run/report.html`` from the run folder's files."""
    from biozoo.report import write_report

    return write_report(run)


def _check_parts(cfg: RunConfig) -> None:
    """Check every registered name and its options; raise ValueError naming the location."""
    from biozoo.encoders import ENCODERS
    from biozoo.fusion import FUSIONS
    from biozoo.train.baselines import BASELINES

    _check_training(cfg.training, "training")
    for i, b in enumerate(cfg.baselines):
        _name(BASELINES, b, f"baselines[{i}]")
    for mname, m in cfg.models.items():
        where = f"models.{mname}"
        if m.training is not None:
            _check_training(cfg.training_for(mname), f"{where}.training")
        fusion_cls = _name(FUSIONS, m.fusion.name, f"{where}.fusion.name")
        validate_options(fusion_cls, m.fusion, f"{where}.fusion")
        for mod in m.encoders:
            if mod not in cfg.data.modalities:
                raise ValueError(
                    f"{where}.encoders.{mod} names no modality of data.modalities "
                    f"({', '.join(cfg.data.modalities)})"
                )
        for mod, spec in [*m.encoders.items(), ("default_encoder", m.default_encoder)]:
            loc = f"{where}.encoders.{mod}" if mod != "default_encoder" else f"{where}.{mod}"
            enc_cls = _name(ENCODERS, spec.name, f"{loc}.name")
            validate_options(enc_cls, spec, loc)
        if m.objective is not None:
            _check_objective(cfg, m.objective, f"{where}.objective")
        _check_decoder(cfg, mname, m)


def _check_objective(cfg: RunConfig, spec: PartSpec, where: str) -> None:
    """The objective's name and options; a likelihood names a modality, and ``nb`` reads
    counts (a table with no scaling and no log1p)."""
    from biozoo.latent.likelihoods import LIKELIHOODS, NegativeBinomialLikelihood
    from biozoo.latent.objectives import OBJECTIVES

    obj_cls = _name(OBJECTIVES, spec.name, f"{where}.name")
    options = validate_options(obj_cls, spec, where)
    for mod, name in options.likelihood.items():  # type: ignore[attr-defined]
        if mod not in cfg.data.modalities:
            raise ValueError(
                f"{where}.likelihood.{mod} names no modality of data.modalities "
                f"({', '.join(cfg.data.modalities)})"
            )
        transforms = getattr(cfg.data.modalities[mod], "transforms", None)
        counts = transforms is not None and not (transforms.scale or transforms.log1p)
        if issubclass(LIKELIHOODS.get(name), NegativeBinomialLikelihood) and not counts:
            raise ValueError(
                f"{where}.likelihood.{mod}: {name} models raw counts, so modality {mod!r} "
                "needs transforms: {scale: false, log1p: false}"
            )


def _check_training(training: FitOptions, where: str) -> None:
    """Check the optimizer and schedule names and options of one set of fit options."""
    from biozoo.train.optim import OPTIMIZERS, check_optimizer_options
    from biozoo.train.schedules import SCHEDULES, check_schedule_options

    _name(OPTIMIZERS, training.optimizer, f"{where}.optimizer")
    check_optimizer_options(
        training.optimizer, training.optimizer_options, where=f"{where}.optimizer_options"
    )
    if training.schedule is not None:
        spec = training.schedule
        _name(SCHEDULES, spec.name, f"{where}.schedule.name")
        options = {k: v for k, v in spec.options.items() if k != "warmup_epochs"}
        check_schedule_options(spec.name, options, where=f"{where}.schedule")


def _check_decoder(cfg: RunConfig, mname: str, m: Any) -> None:
    """A decoder exactly when the task predicts sequences; its name and options."""
    from biozoo.decoders import DECODERS
    from biozoo.tasks.sequence import SequenceOutput

    where = f"models.{mname}"
    sequence = isinstance(cfg.data.target.build_task(), SequenceOutput)
    if sequence and m.decoder is None:
        raise ValueError(
            f"{where} needs a 'decoder' (attention_lstm or transformer): task "
            f"{cfg.data.target.task!r} predicts a sequence per sample"
        )
    if m.decoder is not None:
        if not sequence:
            raise ValueError(
                f"{where}.decoder applies to sequence targets only, not task "
                f"{cfg.data.target.task!r}"
            )
        validate_options(
            _name(DECODERS, m.decoder.name, f"{where}.decoder.name"), m.decoder, f"{where}.decoder"
        )


def _name(registry: Any, name: str, where: str) -> Any:
    if name not in registry:
        raise ValueError(registry.unknown_message(name, where=where))
    return registry.get(name)


def validate_options(cls: Any, spec: PartSpec, where: str) -> BaseModel:
    """Validate ``spec.options`` against ``cls.Config``; errors name the key's location."""
    try:
        return cls.Config(**spec.options)
    except ValidationError as err:
        key, msg = describe_error(err.errors()[0])
        raise ValueError(f"{where}.{key}: {msg}") from None
