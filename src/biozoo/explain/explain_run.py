"""``biozoo explain RUN``: what a finished run folder lacks to be explained, without retraining.

Feature attributions of every table modality (below); the attention of transformer encoders
(:mod:`biozoo.explain.attention_run`: ``attention/`` and ``attention_maps/``); GNNExplainer
masks and drawings of molecules (:mod:`biozoo.explain.graph_run`: ``explanations/``).

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
attributions existed. During training the run calls :func:`explain_run` on its
still-temporary folder (one code path).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from biozoo.config import ModelConfig, RunConfig
from biozoo.data.cohort import Cohort
from biozoo.errors import BiozooError
from biozoo.explain.attributions import attribute_tables, rank_features, resolve_method
from biozoo.model import MultiModalModel, build_model
from biozoo.train.predict import SavedSplit, load_run_config, load_split

__all__ = ["explain_run", "member_model"]

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
) -> dict[str, object]:
    """Compute the attributions a run folder lacks; return the models' summaries.

    Args:
        run_dir: a finished run folder (or a run's temporary folder once its models are saved).
        method: ``integrated_gradients`` (``ig``), ``gradient_shap`` or ``deeplift``.
        models: the deep models to explain (default: every one the run trained).
        overwrite: recompute models whose attributions are already there.
        cohort: the run's data, if already loaded (else read from the run's config).
        top: ``k`` of the top-k stability score.
        max_maps: test samples whose full attention maps are written (per model, modality).
        graph_samples: test molecules explained by GNNExplainer (per model).

    Returns:
        ``{"path": <attributions folder>, "computed": [models computed now],
        "models": {model: summary}, "attention": [models whose attention was written now],
        "explanations": [models whose graph explanations were written now]}`` for the models
        asked for (``attributions/summary.json`` lists every model explained so far).

    Raises:
        BiozooError: not a run folder, no saved models, an unknown model, existing
            attributions made with another method (without ``overwrite``), or data that no
            longer matches ``splits.csv``.
    """
    run = Path(run_dir)
    method = resolve_method(method)
    cfg = _check_run(run)
    names = _model_names(run, cfg, models)
    out = run / "attributions"
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
        cohort = cohort if cohort is not None else _load_cohort(cfg)
        parts = _split_parts(run, cohort)
        for m in todo:
            tables, summary = _explain_model(run, cfg, m, parts, cohort, method, top)
            _write_model(out, m, tables, summary)
            summaries[m] = summary
            log.info("attributions of %s written to %s", m, out / m)
    extra = _attention_and_graphs(run, cfg, names, cohort, overwrite, max_maps, graph_samples)
    everything = {
        p.name: s
        for p in sorted(out.iterdir())
        if not p.name.startswith(".") and (s := _read_json(p / SUMMARY))
    }
    _write_atomic(out / SUMMARY, json.dumps({"models": everything}, indent=2) + "\n")
    return {"path": str(out), "computed": todo, "models": summaries, **extra}


def _attention_and_graphs(run, cfg, names, cohort, overwrite, max_maps, graph_samples):
    """Attention of transformer encoders and GNNExplainer masks, where missing."""
    from biozoo.explain.attention_run import attention_models, run_attention
    from biozoo.explain.graph_run import graph_models, run_graph_explanations

    wanted = {
        m: mods
        for m, mods in attention_models(run, cfg, names).items()
        if overwrite or not (run / "attention" / m).is_dir()
    }
    graphs = {
        m: mod
        for m, mod in graph_models(cfg, names).items()
        if overwrite or not (run / "explanations" / m).is_dir()
    }
    if not wanted and not graphs:
        return {"attention": [], "explanations": []}
    cohort = cohort if cohort is not None else _load_cohort(cfg)
    parts = _split_parts(run, cohort)
    for m, mods in wanted.items():
        frames = run_attention(run, cfg, m, mods, parts, cohort, max_maps=max_maps)

        def tokens(tmp: Path, frames=frames) -> None:
            for mod, (received, _) in frames.items():
                received.to_csv(tmp / f"{mod}.csv", index=False)

        def maps(tmp: Path, frames=frames) -> None:
            for mod, (_, full) in frames.items():
                full.to_csv(tmp / f"{mod}.csv", index=False)

        _swap_in(run / "attention_maps", m, maps)
        _swap_in(run / "attention", m, tokens)
        log.info("attention of %s written to %s", m, run / "attention" / m)
    for m, mod in graphs.items():
        found = run_graph_explanations(run, cfg, m, mod, parts, cohort, n_samples=graph_samples)
        _swap_in(run / "explanations", m, found.write)
        log.info("graph explanations of %s written to %s", m, run / "explanations" / m)
    return {"attention": list(wanted), "explanations": list(graphs)}


def member_model(saved: SavedSplit, spec: ModelConfig, index: int) -> MultiModalModel:
    """Member ``index`` of a saved ensemble as a plain model in evaluation mode."""
    model = build_model(spec, saved.meta["in_dims"], saved.head.n_outputs)
    state = saved.ensemble.member_state_dict(index)
    model.load_state_dict({k: state[k] for k in model.state_dict()})
    return model.eval()


def _check_run(run: Path) -> RunConfig:
    if not run.is_dir():
        raise BiozooError(f"{run} is not a folder, so it cannot be a biozoo run folder.")
    cfg = load_run_config(run)
    if not (run / "splits.csv").is_file():
        raise BiozooError(f"{run} is not a finished biozoo run folder (it has no splits.csv).")
    if not list((run / "models" / "transforms").glob("*.safetensors")):
        raise BiozooError(
            f"run {run} saved no models (output.save_models was off), so there is nothing "
            f"to explain."
        )
    return cfg


def _model_names(run: Path, cfg: RunConfig, models: list[str] | None) -> list[str]:
    saved = [m for m in cfg.models if (run / "models" / m).is_dir()]
    for m in models or []:
        if m not in cfg.models:
            raise BiozooError(f"run {run} has no model {m!r} (it has {', '.join(cfg.models)}).")
        if m not in saved:
            raise BiozooError(f"run {run} saved no weights for model {m!r}.")
    if not saved:
        raise BiozooError(f"run {run} saved no deep model, so there is nothing to explain.")
    return list(models) if models else saved


def _load_cohort(cfg: RunConfig) -> Cohort:
    from biozoo.data.load import load_cohort

    return load_cohort(cfg.data)


def _split_parts(run: Path, cohort: Cohort) -> dict[str, dict[str, np.ndarray]]:
    """split -> {"train": positions, "test": positions} in ``cohort``, from ``splits.csv``."""
    frame = pd.read_csv(run / "splits.csv", dtype={"sample_id": str})
    pos = {str(s): i for i, s in enumerate(cohort.ids)}
    lost = [s for s in frame["sample_id"] if s not in pos]
    if lost:
        raise BiozooError(
            f"sample {lost[0]!r} of {run / 'splits.csv'} is not in the run's data any more "
            f"({len(lost)} missing); attributions need the data the run was trained on."
        )
    parts: dict[str, dict[str, np.ndarray]] = {}
    for (split, part), rows in frame.groupby(["split", "part"], sort=False):
        ids = rows["sample_id"].map(pos).to_numpy(dtype=np.int64)
        parts.setdefault(str(split), {})[str(part)] = ids
    return parts


def _explain_model(run, cfg, model, parts, cohort, method, top):
    """One model's ranked tables (modality -> frame) and its summary."""
    spec = cfg.models[model]
    abs_by: dict[str, dict[str, pd.Series]] = {}
    signed_by: dict[str, dict[str, pd.Series]] = {}
    gaps: list[tuple[np.ndarray, np.ndarray]] = []
    skipped: dict[str, str] = {}
    splits = sorted(p.stem for p in (run / "models" / model).glob("*.safetensors"))
    meta: dict[str, object] = {}
    n_test = 0
    for si, split in enumerate(splits):
        saved = load_split(run, model, split, cfg=cfg)
        meta = saved.meta
        _check_classes(run, cohort, meta)
        if split not in parts or "test" not in parts[split]:
            raise BiozooError(f"{run / 'splits.csv'} has no test samples for split {split!r}.")
        data = saved.transforms.fold_data(cohort.subset(parts[split]["test"]))
        n_test += len(data)
        baselines = _baselines(saved, cohort, parts[split].get("train"), method, si)
        scale = _output_scale(saved)
        tables = _tables(saved)
        per_member: dict[str, list[tuple[pd.Series, pd.Series]]] = {}
        for i in range(saved.ensemble.n_members):
            res = attribute_tables(
                member_model(saved, spec, i),
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
                features = saved.transforms.parts[mod].table.selected_features
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
    """The modalities fed to their encoders as matrices (a table part, no tokenizer/graph)."""
    return [m for m, p in saved.transforms.parts.items() if getattr(p, "type", None) == "table"]


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

    _swap_in(out, model, fill)


def _swap_in(out: Path, name: str, fill: Callable[[Path], object]) -> None:
    """Fill ``out/name`` under a temporary name, then swap it in (no half-written folder)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", suffix=".partial", dir=out))
    try:
        fill(tmp)
        final = out / name
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}-", suffix=".old", dir=out))
            os.rename(final, old / name)
        os.rename(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text)
    os.replace(tmp, path)
