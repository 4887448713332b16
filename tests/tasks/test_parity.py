"""binary, multiclass and regression tasks reproduce the task-string code paths exactly."""

from __future__ import annotations

import numpy as np
import pytest

from biozoo.data.load import _encode_target
from biozoo.evaluate import compute_metrics
from biozoo.tasks import TASKS
from biozoo.train.baselines import BASELINES


@pytest.mark.parametrize("name", ["binary", "multiclass", "regression"])
def test_encoding_metrics_and_baselines_are_unchanged(name, task_example, monkeypatch):
    monkeypatch.setattr("biozoo.tasks.estimators.N_TREES", 20)
    monkeypatch.setattr(BASELINES.get("random_forest"), "N_TREES", 20)
    x, labels, keys = task_example(name, n=60)
    cls = TASKS.get(name)
    options = cls.parse_options(keys, where="t")
    task = cls.from_options(options)
    enc = task.encode_target(labels, options, "y.csv")
    old, classes = _encode_target(labels["y"], name, "y", "y.csv")
    np.testing.assert_array_equal(enc.values, old)
    assert enc.classes == classes and enc.values.dtype == old.dtype
    n_classes = len(classes) if classes else None
    for family in BASELINES.names():
        if family not in task.baseline_labels:
            continue
        base = BASELINES.get(family)
        assert task.baseline_label(family) == base.label
        want = base(task=name, seed=3).fit(x[:40], old[:40], n_classes=n_classes).predict(x[40:])
        got = task.baseline(family, x[:40], old[:40], n_classes=n_classes, seed=3).predict(x[40:])
        np.testing.assert_array_equal(got, want)
        scores = task.metrics(old[40:], got, n_classes=n_classes)
        assert scores == compute_metrics(old[40:], want, task=name, n_classes=n_classes)
