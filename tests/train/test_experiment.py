"""The experiment: same splits for every method, no leakage, keep-mode, other tasks."""

from __future__ import annotations

import numpy as np
import pytest

from biozoo.config import parse_config
from biozoo.data.cohort import Cohort, TableModality
from biozoo.data.splits import make_splits
from biozoo.data.table.transform import TableTransform
from biozoo.tasks import TASKS
from biozoo.train import baselines as baselines_module
from biozoo.train.experiment import run_experiment

TRAINING = {
    "epochs": 4,
    "patience": 2,
    "ensemble": 2,
    "batch_size": 16,
    "split": {"kind": "kfold", "folds": 3},
}


def cohort(n=45, task="binary", absent=None, seed=0):
    rng = np.random.default_rng(seed)
    # column 0 of every table is the sample's row number: a tracer for leakage checks
    mods = {}
    for name, p in (("a", 6), ("b", 4)):
        values = rng.normal(size=(n, p)).astype(np.float32)
        values[:, 0] = np.arange(n)
        present = np.ones(n, dtype=bool)
        if name == absent:
            present[::5] = False
            values[~present] = np.nan
        mods[name] = TableModality(name, values, [f"{name}{i}" for i in range(p)], present)
    if task == "regression":
        target = (mods["a"].values[:, 1] + rng.normal(size=n)).astype(np.float32)
        classes = None
    else:
        k = 2 if task == "binary" else 3
        target = np.arange(n) % k
        classes = [str(c) for c in range(k)]
    ids = np.array([f"s{i}" for i in range(n)], dtype=object)
    return Cohort(ids, mods, target, TASKS.get(task)(), classes)


def config(task="binary", **extra):
    raw = {
        "data": {
            "modalities": {"a": {"path": "a.csv"}, "b": {"path": "b.csv"}},
            "target": {"path": "y.csv", "column": "y", "task": task},
        },
        "training": TRAINING,
        "baselines": ["linear"],
        **extra,
    }
    return parse_config(raw)


def test_no_test_sample_reaches_a_transform_or_a_baseline(monkeypatch):
    seen: list[set[int]] = []
    fit = TableTransform.fit

    def spy_fit(self, X, y, **kw):
        seen.append({int(v) for v in X[:, 0]})
        return fit(self, X, y, **kw)

    base_seen: list[int] = []
    base_fit = baselines_module.LinearBaseline.fit

    def spy_base(self, X, y, **kw):
        base_seen.append(len(X))
        return base_fit(self, X, y, **kw)

    monkeypatch.setattr(TableTransform, "fit", spy_fit)
    monkeypatch.setattr(baselines_module.LinearBaseline, "fit", spy_base)
    data = cohort()
    result = run_experiment(config(), data)
    assert len(seen) == 3 * 2  # 3 splits x 2 modalities
    for i, split in enumerate(result.splits):
        train, test = set(split.train.tolist()), set(split.test.tolist())
        for rows in seen[2 * i : 2 * i + 2]:
            assert rows == train and not rows & test
        assert base_seen[i] == len(train)


def test_every_method_sees_the_same_splits():
    data = cohort()
    result = run_experiment(config(), data)
    expected = make_splits(data.target, stratify=data.target, kind="kfold", folds=3, seed=0)
    assert [s.test.tolist() for s in result.splits] == [s.test.tolist() for s in expected]
    import pandas as pd

    preds = pd.concat(result.predictions)
    by_method = preds.groupby("method")
    ids = {m: sorted(zip(g["split"], g["sample_id"], strict=True)) for m, g in by_method}
    first = next(iter(ids.values()))
    assert all(v == first for v in ids.values())


def test_kept_samples_with_a_missing_modality_are_scored():
    data = cohort(absent="b")
    cfg = config()
    cfg.data.missing_modality = "keep"
    result = run_experiment(cfg, data)
    import pandas as pd

    preds = pd.concat(result.predictions)
    assert preds.groupby("method").size().eq(45).all()
    assert np.isfinite(preds.filter(like="p_").to_numpy()).all()


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_other_tasks_run_end_to_end(task):
    result = run_experiment(config(task), cohort(task=task))
    metric = "rmse" if task == "regression" else "roc_auc"
    for per_split in result.metrics.values():
        assert all(np.isfinite(m[metric]) for m in per_split)
    if task == "regression":
        import pandas as pd

        preds = pd.concat(result.predictions)
        # predictions come back on the target's own scale, not the standardized one
        assert abs(preds["prediction"].mean() - preds["y_true"].mean()) < 1.0
