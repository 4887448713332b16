"""Real tiny run folders (binary, multiclass, regression) for the report tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biozoo.api import run as train
from biozoo.config import OutputConfig, parse_config
from biozoo.data.cohort import Cohort, TableModality
from biozoo.tasks import TASKS

TRAINING = {
    "epochs": 3,
    "patience": 2,
    "ensemble": 2,
    "batch_size": 16,
    "split": {"kind": "kfold", "folds": 3},
}
# the tests write their own reports; skip the run's (once train() writes one) to stay fast
OUTPUT = {"save_models": False}
if "report" in OutputConfig.model_fields:
    OUTPUT["report"] = False
MODELS = {
    "multimodule": {"encoders": {"a": {"name": "mlp", "hidden": [8], "out_dim": 3}}},
    "late": {"fusion": {"name": "late"}},
}


# cell types as pbmc68k_reduced names them: long, with slashes and signs
LONG_CLASSES = [
    "CD4+/CD45RA+/CD25- Naive T",
    "CD4+/CD25 T Reg",
    "CD4+/CD45RO+ Memory",
    "CD8+/CD45RA+ Naive Cytotoxic",
    "CD8+ Cytotoxic T",
    "CD14+ Monocyte",
    "CD19+ B",
    "CD34+",
    "CD56+ NK",
    "Dendritic",
]


def tiny_cohort(task: str, n: int = 42, seed: int = 0, classes: list[str] | None = None) -> Cohort:
    """Two small tables whose first two columns carry the target."""
    rng = np.random.default_rng(seed)
    k = len(classes) if classes else {"binary": 2, "multiclass": 3}.get(task, 0)
    y = (np.arange(n) % k) if k else rng.normal(size=n)
    mods = {}
    for name, p in (("a", 5), ("b", 4)):
        values = rng.normal(size=(n, p)).astype(np.float32)
        values[:, :2] += y[:, None]
        mods[name] = TableModality(
            name, values, [f"{name}{i}" for i in range(p)], np.ones(n, dtype=bool)
        )
    classes = (classes or [f"c{i}" for i in range(k)]) if k else None
    target = y.astype(np.int64) if k else y.astype(np.float32)
    ids = np.array([f"s{i:02d}" for i in range(n)], dtype=object)
    return Cohort(ids, mods, target, TASKS.get(task)(), classes)


def tiny_run(
    task: str, out: Path, *, models: dict | None = None, cohort: Cohort | None = None
) -> Path:
    """Train a tiny run of ``task`` into ``out`` and return its run folder."""
    cfg = parse_config(
        {
            "name": f"tiny-{task}",
            "data": {
                "modalities": {"a": {"path": "a.csv"}, "b": {"path": "b.csv"}},
                "target": {"path": "y.csv", "column": "y", "task": task},
            },
            "models": MODELS if models is None else models,
            "training": TRAINING,
            "baselines": ["linear"],
            "output": OUTPUT,
        }
    )
    return train(cfg, cohort=cohort or tiny_cohort(task), out_dir=out).path


@pytest.fixture(scope="session")
def run_dirs(tmp_path_factory) -> dict[str, Path]:
    """A finished run folder per task (binary has two deep models, the others one)."""
    out = tmp_path_factory.mktemp("runs")
    one = {"multimodule": MODELS["multimodule"]}
    return {
        "binary": tiny_run("binary", out),
        "multiclass": tiny_run("multiclass", out, models=one),
        "regression": tiny_run("regression", out, models=one),
    }


@pytest.fixture(scope="session")
def ten_class_run(tmp_path_factory) -> Path:
    """A multiclass run with 10 classes of long names (as pbmc68k's cell types)."""
    out = tmp_path_factory.mktemp("ten")
    cohort = tiny_cohort("multiclass", n=60, classes=LONG_CLASSES)
    one = {"multimodule": MODELS["multimodule"]}
    return tiny_run("multiclass", out, models=one, cohort=cohort)


@pytest.fixture(scope="session")
def explained_run(run_dirs, tmp_path_factory) -> Path:
    """The binary run plus the files ``biozoo explain`` adds (made up here)."""
    run = tmp_path_factory.mktemp("explained") / "run"
    shutil.copytree(run_dirs["binary"], run)
    add_explanations(run)
    return run


@pytest.fixture(scope="session")
def explain_files():
    """A function that adds made-up ``biozoo explain`` outputs to a run folder."""
    return add_explanations


def add_explanations(run: Path) -> None:
    """Attribution and attention CSVs, a graph-explanation SVG and image maps, in the agreed
    layout."""
    rng = np.random.default_rng(0)
    for model, modality, p in (("multimodule", "a", 5), ("late", "b", 4)):
        path = run / "attributions" / model / f"{modality}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        score = np.sort(rng.uniform(size=p))[::-1]
        if model == "multimodule":  # the columns biozoo.explain writes
            table = {
                "feature": [f"{modality}{i}" for i in range(p)],
                "rank": np.arange(1, p + 1),
                "mean_abs_attribution": score,
                "sd_abs_attribution": score / 5,
                "mean_attribution": -score,
                "top10_frequency": 1.0,
                "n_splits_selected": 3,
            }
        else:  # a minimal variant
            table = {
                "feature": [f"{modality}{i}" for i in range(p)],
                "mean_abs": score,
                "sd": score / 5,
            }
        pd.DataFrame(table).to_csv(path, index=False)
    summary = {  # the fields of biozoo explain's summary.json that the report shows
        "model": "multimodule",
        "method": "integrated_gradients",
        "explained": "log-odds of class 'c1'",
        "baseline": "zeros: the training mean of every standardised feature",
        "modalities": {"a": {"file": "a.csv", "n_features": 5, "rank_agreement": 0.2}},
    }
    (run / "attributions" / "multimodule" / "summary.json").write_text(json.dumps(summary))
    rows = [
        {
            "sample_id": f"s{s:02d}",
            "position": j,
            "token": tok,
            "received_attention": float(rng.uniform()),
        }
        for s in range(3)
        for j, tok in enumerate(["[CLS]", "M", "K", "V", "L"][: 3 + s])
    ]
    path = run / "attention" / "multimodule" / "seq.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    tokens = ["[CLS]", "M", "K"]
    weights = rng.dirichlet(np.ones(3), size=(2, 2, 3))  # (layer, head, query) -> keys
    maps = [
        {
            "split": "r0-f0",
            "sample_id": "s00",
            "layer": layer,
            "head": head,
            "query": q - 1,
            "key": k - 1,
            "query_token": tokens[q],
            "key_token": tokens[k],
            "weight": float(weights[layer, head, q, k]),
        }
        for layer in range(2)
        for head in range(2)
        for q in range(3)
        for k in range(3)
    ]
    path = run / "attention_maps" / "multimodule" / "seq.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(maps).to_csv(path, index=False)
    maps = run / "image_maps" / "multimodule" / "cells.npz"  # as biozoo.explain.image_run
    maps.parent.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:12, :12]
    blob = np.exp(-((yy - 4.0) ** 2 + (xx - 7.0) ** 2) / 8.0).astype(np.float32)
    np.savez_compressed(
        maps,
        sample_id=np.array(["s00", "s01", "s02"]),
        split=np.array(["r0-f0"] * 3),
        images=rng.normal(size=(2, 1, 12, 12)).astype(np.float32) + 3 * blob,
        rollout=np.stack([blob, blob.T, blob]),
        grad_cam=np.stack([blob.T, blob, blob]),
    )
    svg = run / "explanations" / "multimodule" / "s00.svg"
    svg.parent.mkdir(parents=True, exist_ok=True)
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80" viewBox="0 0 120 80">'
        '<line x1="20" y1="40" x2="100" y2="40" stroke="#c33" stroke-width="4"/>'
        '<circle cx="20" cy="40" r="10" fill="#36c"/><circle cx="100" cy="40" r="10" '
        'fill="#36c"/></svg>'
    )
