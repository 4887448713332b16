"""``biozoo explain RUN``: what a finished run folder lacks to be explained, without retraining.

Feature attributions of every table modality (below); the attention of transformer encoders
(:mod:`biozoo.explain.attention_run`: ``attention/`` and ``attention_maps/``); GNNExplainer
masks and drawings of molecules (:mod:`biozoo.explain.graph_run`: ``explanations/``);
attention rollout and Grad-CAM of image encoders (:mod:`biozoo.explain.image_run`:
``image_maps/``).

For every deep model and split, each ensemble member is rebuilt as a plain
:class:`~biozoo.model.MultiModalModel` and explains the split's *test* samples only (a model
never explains data it trained on), with the split's own fitted transforms. Per split, the
mean |attribution| over the test samples that have the modality is averaged over members;
:func:`~biozoo.explain.attributions.rank_features` then averages the splits into one ranked
table per modality. A feature the split's selection (``top_k``...) dropped gets no
attribution in that split and counts as zero there.

Outputs, under ``<run>/attributions/``:

- ``<model>/<modality>.csv``: the ranked table (features no split selected are left out:
  their attribution is zero everywhere);
- ``<model>/summary.json``: method, explained output, baseline, splits, completeness gap,
  rank agreement and top features per modality;
- ``summary.json``: every model's summary.

Each model's folder (of attributions, attention or explanations) is written under a temporary
name and renamed when complete, so a failure leaves no half-written output. The cohort is
rebuilt from the run's config and ``splits.csv``, so this works on run folders written before
attributions existed. :func:`biozoo.api.run` calls :func:`explain_run` on a run's
still-temporary folder (one code path). The run is read through
:class:`~biozoo.train.saved_run.SavedRun`; this module is the only one here that orchestrates
(:mod:`.attention_run`, :mod:`.graph_run` and :mod:`.image_run` are called from it and
never call back).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from biozoo._atomic import atomic_dir, atomic_file
from biozoo.data.cohort import Cohort
from biozoo.errors import BiozooError
from biozoo.explain.attention_run import attention_models, run_attention
from biozoo.explain.attributions import attribute_tables, rank_features, resolve_method
from biozoo.explain.graph_run import graph_models, run_graph_explanations
from biozoo.explain.image_run import image_models, run_image_maps
from biozoo.train.saved_run import SavedRun, SavedSplit

__all__ = ["explain_run"]

log = logging.getLogger(__name__)

SUMMARY = "summary.json"
_SHAP_BASELINE_ROWS = 64
_BASELINE = {
    "integrated_gradients": "zeros: the training mean of every standardised feature",
    "deeplift": "zeros: the training mean of every standardised feature",
    "gradient_shap": f"up to {_SHAP_BASELINE_ROWS} training samples of the split",
}


def explain_run(
    run_dir: Path | str,
    *,
    method: str = "integrated_gradients",
    models: list[str] | None = None,
    overwrite: bool = False,
    cohort: Cohort | None = None,
    top: int = 10,
    max_maps: int = 4,
    graph_samples: int = 6,
    device: str | None = None,
) -> dict[str, object]:
    """Compute the attributions a run folder lacks; return the models' summaries.

    Args:
        run_dir: a finished run folder (or a run's temporary folder once its models are saved).
        method: ``integrated_gradients`` (``ig``), ``gradient_shap`` or ``deeplift``.
        models: the deep models to explain (default: every one the run trained).
        overwrite: recompute models whose attributions are already there.
        cohort: the run's data, if already loaded (else read from the run's config).
        top: ``k`` of the top-k stability score.
        max_maps: test samples whose full attention maps are written, and test images kept
            beside their maps (per model, modality).
        graph_samples: test molecules explained by GNNExplainer (per model).
        device: ``auto``, ``cpu`` or ``cuda``: where the saved models are explained
            (default: the run's ``training.accelerator``, the CPU where CUDA is absent).

    Returns:
        ``{"path": <attributions folder>, "computed": [models computed now],
        "models": {model: summary}, "attention": [models whose attention was written now],
        "explanations": [models whose graph explanations were written now],
        "image_maps": [models whose image maps were written now]}`` for the models
        asked for (``attributions/summary.json`` lists every model explained so far).

    Raises:
        BiozooError: not a run folder, no saved models, an unknown model, a ``device``
            that is not one (or ``cuda`` without CUDA), existing
            attributions made with another method (without ``overwrite``), or data that no
            longer matches ``splits.csv``.
    """
    method = resolve_method(method)
    run = _check_run(Path(run_dir), device)
    names = _model_names(run, models)
    out = run.layout.attributions
    summaries: dict[str, dict] = {}
    todo = []
    for m in names:
        existing = _read_json(out / m / SUMMARY)
        if existing is None or overwrite:
            todo.append(m)
        elif existing.get("method") != method:
            raise BiozooError(
                f"the attributions of model {m!r} in {out} were made with "
                f"{existing.get('method')}; recompute them with {method} using --overwrite "
                f"(overwrite=True in Python)."
            )
        else:
            summaries[m] = existing
    if todo:
        cohort = cohort if cohort is not None else run.load_cohort()
        rows = run.split_rows(cohort)
        for m in todo:
            tables, summary = _explain_model(run, m, rows, cohort, method, top)
            _write_model(out, m, tables, summary)
            summaries[m] = summary
            log.info("attributions of %s written to %s", m, out / m)
    extra = _attention_and_graphs(run, names, cohort, overwrite, max_maps, graph_samples)
    everything = {
        p.name: s
        for p in sorted(out.iterdir())
        if not p.name.startswith(".") and (s := _read_json(p / SUMMARY))
    }
    with atomic_file(out / SUMMARY) as tmp:
        tmp.write_text(json.dumps({"models": everything}, indent=2) + "\n")
    return {"path": str(out), "computed": todo, "models": summaries, **extra}


def _attention_and_graphs(run, names, cohort, overwrite, max_maps, graph_samples):
    """Attention of transformer encoders, GNNExplainer masks and image maps, where missing."""
    layout, cfg = run.layout, run.cfg
    wanted = {
        m: mods
        for m, mods in attention_models(cfg, names).items()
        if overwrite or not (layout.attention / m).is_dir()
    }
    graphs = {
        m: mod
        for m, mod in graph_models(cfg, names).items()
        if overwrite or not (layout.explanations / m).is_dir()
    }
    images = {
        m: mods
        for m, mods in image_models(cfg, names).items()
        if overwrite or not (layout.image_maps / m).is_dir()
    }
    if not wanted and not graphs and not images:
        return {"attention": [], "explanations": [], "image_maps": []}
    cohort = cohort if cohort is not None else run.load_cohort()
    rows = run.split_rows(cohort)
    for m, mods in wanted.items():
        frames = run_attention(run, m, mods, cohort, rows, max_maps=max_maps)

        def tokens(tmp: Path, frames=frames) -> None:
            for mod, (received, _) in frames.items():
                received.to_csv(tmp / f"{mod}.csv", index=False)

        def maps(tmp: Path, frames=frames) -> None:
            for mod, (_, full) in frames.items():
                full.to_csv(tmp / f"{mod}.csv", index=False)

        _swap_in(layout.attention_maps / m, maps)
        _swap_in(layout.attention / m, tokens)
        log.info("attention of %s written to %s", m, layout.attention / m)
    for m, mod in graphs.items():
        found = run_graph_explanations(run, m, mod, cohort, rows, n_samples=graph_samples)
        _swap_in(layout.explanations / m, found.write)
        log.info("graph explanations of %s written to %s", m, layout.explanations / m)
    for m, mods in images.items():
        found = run_image_maps(run, m, mods, cohort, rows, max_images=max_maps)
        _swap_in(layout.image_maps / m, found.write)
        log.info("image maps of %s written to %s", m, layout.image_maps / m)
    return {"attention": list(wanted), "explanations": list(graphs), "image_maps": list(images)}


def _check_run(path: Path, device: str | None) -> SavedRun:
    if not path.is_dir():
        raise BiozooError(f"{path} is not a folder, so it cannot be a biozoo run folder.")
    run = SavedRun(path, device=device)
    if not run.layout.splits_csv.is_file():
        raise BiozooError(f"{path} is not a finished biozoo run folder (it has no splits.csv).")
    if not run.layout.split_names():
        raise BiozooError(
            f"run {path} saved no models (output.save_models was off), so there is nothing "
            f"to explain."
        )
    return run


def _model_names(run: SavedRun, models: list[str] | None) -> list[str]:
    saved = run.saved_models()
    for m in models or []:
        run.check_model(m)
        if m not in saved:
            raise BiozooError(f"run {run.path} saved no weights for model {m!r}.")
    if not saved:
        raise BiozooError(f"run {run.path} saved no deep model, so there is nothing to explain.")
    return list(models) if models else saved


def _explain_model(run, model, rows, cohort, method, top):
    """One model's ranked tables (modality -> frame) and its summary."""
    abs_by: dict[str, dict[str, pd.Series]] = {}
    signed_by: dict[str, dict[str, pd.Series]] = {}
    gaps: list[tuple[np.ndarray, np.ndarray]] = []
    skipped: dict[str, str] = {}
    splits: list[str] = []
    meta: dict[str, object] = {}
    n_test = 0
    for test in run.test_splits(model, cohort, rows):
        si, split, saved = test.index, test.name, test.saved
        splits.append(split)
        meta = saved.meta
        _check_classes(run.path, cohort, meta)
        data = test.data
        n_test += len(data)
        baselines = _baselines(saved, cohort, test.train, method, si)
        scale = _output_scale(saved)
        tables = _tables(saved)
        per_member: dict[str, list[tuple[pd.Series, pd.Series]]] = {}
        for i in range(saved.ensemble.n_members):
            res = attribute_tables(
                saved.member(i),
                data.inputs,
                data.present,
                head=saved.head,
                target=data.y,
                method=method,
                tables=tables,
                baselines=baselines,
                output_scale=scale,
                seed=1000 * si + i,
            )
            skipped.update(res.skipped)
            for mod, v in res.values.items():
                features = saved.transforms.parts[mod].feature_names()
                means = _feature_means(v, data.present[mod], features)
                if means is not None:
                    per_member.setdefault(mod, []).append(means)
            if res.delta is not None:
                total = sum(v.sum(dim=1) for v in res.values.values())
                gaps.append((res.delta.numpy(), (total - res.delta).numpy()))
        for mod, pairs in per_member.items():  # average over members
            abs_by.setdefault(mod, {})[split] = sum(a for a, _ in pairs) / len(pairs)
            signed_by.setdefault(mod, {})[split] = sum(s for _, s in pairs) / len(pairs)
    tables, mods = {}, {}
    for mod in abs_by:
        table, agreement = rank_features(abs_by[mod], signed_by[mod], top=top)
        tables[mod] = table
        mods[mod] = {
            "file": f"{mod}.csv",
            "n_features": len(table),
            "rank_agreement": agreement,
            "top": table["feature"].head(top).tolist(),
        }
    summary = {
        "model": model,
        "method": method,
        "task": meta.get("task"),
        "explained": cohort.task.explained(meta.get("classes") or []),
        "baseline": _BASELINE[method],
        "splits": splits,
        "n_members": int(meta.get("n_members", 0)),
        "n_test_samples": n_test,
        "modalities": mods,
        "skipped": skipped,
        "completeness": _completeness(gaps),
        "definitions": {
            "mean_abs_attribution": "mean |attribution| over each split's test samples that "
            "have the modality, averaged over members, then over splits (0 where the split's "
            "selection dropped the feature)",
            f"top{top}_frequency": f"fraction of splits in which the feature is among the "
            f"split's {top} largest mean |attribution|",
            "rank_agreement": "mean pairwise Spearman correlation between splits' mean "
            "|attribution| over the features some split selected",
        },
    }
    return tables, summary


def _feature_means(values, present, features) -> tuple[pd.Series, pd.Series] | None:
    """Mean |attribution| and mean attribution per feature over the samples present."""
    v = values[present].double()
    if len(v) == 0:
        return None
    return (
        pd.Series(v.abs().mean(dim=0).numpy(), index=features),
        pd.Series(v.mean(dim=0).numpy(), index=features),
    )


def _baselines(saved, cohort, train_pos, method, si) -> dict[str, torch.Tensor] | None:
    if method != "gradient_shap" or train_pos is None or len(train_pos) == 0:
        return None
    rng = np.random.default_rng(si)
    pick = rng.choice(train_pos, size=min(_SHAP_BASELINE_ROWS, len(train_pos)), replace=False)
    data = saved.transforms.fold_data(cohort.subset(np.sort(pick)))
    return {m: data.inputs[m] for m in _tables(saved)}


def _tables(saved: SavedSplit) -> list[str]:
    """The modalities fed to their encoders as matrices of named features."""
    return [m for m, p in saved.transforms.parts.items() if p.feature_names() is not None]


def _output_scale(saved: SavedSplit) -> float:
    return saved.transforms.target.output_scale


def _check_classes(run: Path, cohort: Cohort, meta: dict) -> None:
    if cohort.classes != meta.get("classes"):
        raise BiozooError(
            f"the classes of the run's data ({cohort.classes}) differ from those the models "
            f"of {run} were trained on ({meta.get('classes')})."
        )


def _completeness(gaps: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float] | None:
    """How far sum(attributions) is from output(x) - output(baseline)."""
    if not gaps:
        return None
    delta = np.abs(np.concatenate([d for d, _ in gaps]))
    change = np.abs(np.concatenate([c for _, c in gaps]))
    rel = delta / np.maximum(change, 1e-6)
    return {
        "max_abs_delta": float(delta.max()),
        "median_abs_delta": float(np.median(delta)),
        "median_relative_delta": float(np.median(rel)),
    }


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def _write_model(out: Path, model: str, tables: dict[str, pd.DataFrame], summary: dict) -> None:
    def fill(tmp: Path) -> None:
        for mod, table in tables.items():
            table.to_csv(tmp / f"{mod}.csv", index=False)
        (tmp / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")

    _swap_in(out / model, fill)


def _swap_in(final: Path, fill: Callable[[Path], object]) -> None:
    """Fill folder ``final`` under a temporary name, then swap it in (no half-written folder)."""
    with atomic_dir(final, replace=True) as tmp:
        fill(tmp)
