"""Score new samples with a finished run's saved ensembles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from biozoo.config import DataConfig, RunConfig, parse_config
from biozoo.data.load import load_cohort
from biozoo.errors import BiozooError
from biozoo.model import build_model
from biozoo.train.ensemble import Ensemble, make_ensemble
from biozoo.train.fold import FittedTransforms
from biozoo.train.plan import predict_members
from biozoo.train.saving import load_ensemble_state, load_transforms

__all__ = ["SavedSplit", "data_for_prediction", "load_run_config", "load_split", "predict"]


def load_run_config(run: Path) -> RunConfig:
    """The resolved config a run folder was trained with."""
    path = Path(run) / "config.yaml"
    if not path.is_file():
        raise BiozooError(f"{run} is not a biozoo run folder (no config.yaml in it).")
    return parse_config(yaml.safe_load(path.read_text()), source=str(path))


def data_for_prediction(cfg: RunConfig, sources: dict[str, Path]) -> DataConfig:
    """The run's data section with each modality read from ``sources`` instead.

    Every modality the run was trained on must be given, unless the run kept samples with
    missing modalities, in which case absent ones are scored as missing.
    """
    unknown = sorted(set(sources) - set(cfg.data.modalities))
    if unknown:
        raise BiozooError(
            f"modality {unknown[0]!r} was not part of the run "
            f"(it has {', '.join(cfg.data.modalities)})."
        )
    missing = [m for m in cfg.data.modalities if m not in sources]
    if missing and cfg.data.missing_modality == "drop":
        raise BiozooError(
            f"no data given for modality {missing[0]!r}; the run needs "
            f"{', '.join(cfg.data.modalities)} (give them as NAME=PATH)."
        )
    mods = {}
    for name, mod in cfg.data.modalities.items():
        if name in sources:
            mods[name] = mod.model_copy(update={"path": Path(sources[name]), "dataset": None})
    return cfg.data.model_copy(update={"modalities": mods})


def predict(
    run: Path,
    data: DataConfig | dict[str, Path],
    *,
    model: str | None = None,
    split: str | None = None,
) -> pd.DataFrame:
    """Predictions of a run's saved ensembles for the samples in ``data``.

    Args:
        run: the run folder.
        data: where the new samples are: modality name -> table path (read with the run's
            own reader options), or a full data section (see :func:`data_for_prediction`).
        model: one of the run's deep models (default: every one).
        split: one split's ensemble, which reproduces the run's own predictions for that
            split's test samples; default: the average over every split's ensemble.

    Returns:
        One row per sample and model: ``sample_id``, ``model``, ``split`` and the task's
        prediction columns (class probabilities ``p_<class>`` with ``y_pred``; ``prediction``
        for regression; ``risk`` for survival).
    """
    run = Path(run)
    cfg = load_run_config(run)
    if not isinstance(data, DataConfig):
        data = data_for_prediction(cfg, {k: Path(v) for k, v in data.items()})
    models = [model] if model else list(cfg.models)
    for m in models:
        if m not in cfg.models:
            raise BiozooError(f"run {run} has no model {m!r} (it has {', '.join(cfg.models)}).")
    splits = sorted(p.stem for p in (run / "models" / "transforms").glob("*.safetensors"))
    if not splits:
        raise BiozooError(f"run {run} saved no models (output.save_models was off).")
    if split is not None and split not in splits:
        raise BiozooError(f"run {run} has no split {split!r} (it has {', '.join(splits)}).")
    chosen = [split] if split else splits
    cohort = load_cohort(data, with_target=False)
    frames = []
    for m in models:
        preds, meta = [], {}
        for s in chosen:
            saved = load_split(run, m, s, cfg=cfg)
            ensemble, head, transforms, meta = (
                saved.ensemble,
                saved.head,
                saved.transforms,
                saved.meta,
            )
            fold = transforms.fold_data(cohort)
            p = predict_members(ensemble, head, fold).numpy().mean(axis=0)
            preds.append(transforms.target.inverse_transform(p))
        frames.append(_frame(cohort, m, split or "all", np.mean(preds, axis=0), meta))
    return pd.concat(frames, ignore_index=True)


@dataclass
class SavedSplit:
    """One split's trained ensemble of one model, rebuilt from a run folder.

    Attributes:
        ensemble: the members, in evaluation mode.
        head: the task head (probabilities / predictions and loss).
        transforms: the split's fitted transforms (apply to new samples with
            ``transforms.fold_data(cohort)``).
        meta: what was saved with the weights (task, classes, in_dims, seeds...).
    """

    ensemble: Ensemble
    head: torch.nn.Module
    transforms: FittedTransforms
    meta: dict[str, object]


def load_split(run: Path, model: str, split: str, *, cfg: RunConfig | None = None) -> SavedSplit:
    """Rebuild model ``model``'s ensemble of split ``split`` from run folder ``run``."""
    run = Path(run)
    cfg = cfg if cfg is not None else load_run_config(run)
    path = run / "models" / model / f"{split}.safetensors"
    if not path.is_file():
        raise BiozooError(f"run {run} has no saved model {model!r} for split {split!r}.")
    task = cfg.data.target.build_task()
    transforms = load_transforms(run / "models" / "transforms" / f"{split}.safetensors", task)
    state, meta = load_ensemble_state(path)
    classes = meta["classes"]
    head = task.head(len(classes) if classes else None)
    in_dims = meta["in_dims"]
    ensemble = make_ensemble(
        lambda: build_model(cfg.models[model], in_dims, head.n_outputs),
        [0] * int(meta["n_members"]),
    )
    ensemble.load_stacked_state(state)
    ensemble.eval()
    return SavedSplit(ensemble, head, transforms, meta)


def _frame(cohort, model, split, pred, meta) -> pd.DataFrame:
    """``sample_id``, ``model``, ``split`` and the task's prediction columns (no target)."""
    frame: dict[str, object] = {"sample_id": cohort.ids, "model": model, "split": split}
    frame |= cohort.task.prediction_columns(None, pred, classes=meta["classes"])
    return pd.DataFrame(frame)
