"""Score new samples with a finished run's saved ensembles (float or int8: the run's loader),
or with one of its saved baselines (:mod:`biozoo.train.saved_baselines`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from biozoo.config import DataConfig, RunConfig
from biozoo.data.align import load_cohort
from biozoo.errors import BiozooError
from biozoo.train.decision import decided
from biozoo.train.plan import predict_members
from biozoo.train.saved_run import SavedRun

__all__ = ["data_for_prediction", "predict"]


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
    run: SavedRun | Path,
    data: DataConfig | dict[str, Path],
    *,
    model: str | None = None,
    split: str | None = None,
    method: str | None = None,
) -> pd.DataFrame:
    """Predictions of a run's saved ensembles (or of a saved baseline) for ``data``'s samples.

    Args:
        run: the run folder, or a run read with its own weights loader (an int8 export is
            ``biozoo.train.export.open_int8(folder)``).
        data: where the new samples are: modality name -> table path (read with the run's
            own reader options), or a full data section (see :func:`data_for_prediction`).
        model: one of the run's deep models (default: every one).
        split: one split's ensemble, by name (``h0``) or index (``0``); it reproduces the
            run's own predictions for that split's test samples; default: the average over
            every split's ensemble.
        method: one method of the run's leaderboard instead of ``model``: a deep model, or a
            baseline by its config name (``linear``) or its leaderboard label
            (``logistic (CV)``). A baseline predicts with each split's fitted model, on the
            features that split's transforms make (the patient GCN trains on the new samples
            with its training samples, as in the run).

    Returns:
        One row per sample and model: ``sample_id``, ``model``, ``split`` and the task's
        prediction columns (class probabilities ``p_<class>`` with ``y_pred``; ``prediction``
        for regression; ``risk`` for survival).
    """
    run = run if isinstance(run, SavedRun) else SavedRun(run)
    cfg = run.cfg
    if not isinstance(data, DataConfig):
        data = data_for_prediction(cfg, {k: Path(v) for k, v in data.items()})
    baseline = None
    if method is not None:
        if model is not None:
            raise BiozooError("give --model or --method, not both.")
        baseline = run.baseline_name(method)
        model = None if baseline else method
    models = [model] if model else list(cfg.models)
    for m in models:
        run.check_model(m)
    splits = run.splits()
    split = _split_name(run, splits, split)
    chosen = [split] if split else splits
    cohort = load_cohort(data, with_target=False)
    if baseline:
        preds = [_baseline_prediction(run, baseline, s, cohort) for s in chosen]
        label = run.baseline_label(baseline)
        return _frame(cohort, label, split or "all", np.mean(preds, axis=0), run.classes())
    frames = []
    for m in models:
        preds, meta = [], {}
        for s in chosen:
            saved = run.split(s, m)
            meta = saved.meta
            fold = saved.transforms.fold_data(cohort)
            p = predict_members(saved.ensemble, saved.head, fold).numpy().mean(axis=0)
            preds.append(decided(meta, saved.transforms.target.inverse_transform(p)))
        frames.append(_frame(cohort, m, split or "all", np.mean(preds, axis=0), meta["classes"]))
    return pd.concat(frames, ignore_index=True)


def _split_name(run: SavedRun, splits: list[str], split: str | None) -> str | None:
    """``split`` by name, or by its index among ``splits``."""
    if split is not None and split.isdigit() and split not in splits:
        if int(split) >= len(splits):
            raise BiozooError(
                f"run {run.path} has no split number {split} (it has {len(splits)}: "
                f"{', '.join(splits)})."
            )
        split = splits[int(split)]
    if split is not None and split not in splits:
        raise BiozooError(f"run {run.path} has no split {split!r} (it has {', '.join(splits)}).")
    return split


def _baseline_prediction(run: SavedRun, name: str, split: str, cohort) -> np.ndarray:
    """Baseline ``name`` of ``split`` on the features of that split's transforms."""
    model, transforms = run.baseline(name, split)
    X = transforms.flat(cohort)
    try:
        return model.predict(X)
    except ValueError as err:  # scikit-learn's "X has 12 features, but ... 13"
        raise BiozooError(
            f"baseline {name!r} of split {split!r} cannot score these samples: "
            f"{str(err).splitlines()[0].rstrip('.')}."
        ) from None


def _frame(cohort, model, split, pred, classes) -> pd.DataFrame:
    """``sample_id``, ``model``, ``split`` and the task's prediction columns (no target)."""
    frame: dict[str, object] = {"sample_id": cohort.ids, "model": model, "split": split}
    frame |= cohort.task.prediction_columns(None, pred, classes=classes)
    return pd.DataFrame(frame)
