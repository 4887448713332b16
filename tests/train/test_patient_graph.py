"""patient_gcn: similarity graphs, masked test labels, and learning on a simulated cohort."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from biozoo.data.sources.simulate import simulate_cohort
from biozoo.data.table.transform import TableTransform
from biozoo.tasks import TASKS
from biozoo.train.baselines import BASELINES
from biozoo.train.baselines.patient_gcn import (
    PatientGCNBaseline,
    similarity_graph,
    transductive_gcn,
)

FAST = {"hidden": (16,), "epochs": 60, "patience": 15}


def _cohort(n=90, seed=0):
    sim = simulate_cohort(
        n_samples=n, n_features={"rna": 120}, n_informative=12, effect_size=1.0, seed=seed
    )
    X = sim.tables["rna"].to_numpy()
    y = sim.target.to_numpy()
    test = np.zeros(n, bool)
    test[np.random.default_rng(seed).permutation(n)[: n // 3]] = True
    t = TableTransform(log1p=True).fit(
        X[~test], y[~test], task=TASKS.get("binary")(), features=list(sim.tables["rna"].columns)
    )
    return t.transform(X), y, test


def test_knn_graph_matches_a_brute_force_reference():
    X = np.random.default_rng(0).normal(size=(12, 5))
    ei, w = similarity_graph(X, method="knn", k=3)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = U @ U.T
    ref = set()
    for i in range(12):
        order = [j for j in np.argsort(-S[i]) if j != i][:3]
        ref |= {(i, j) for j in order} | {(j, i) for j in order}
    assert {tuple(e) for e in ei.T.tolist()} == ref
    np.testing.assert_allclose(w, np.clip(S[ei[0], ei[1]], 0, None), rtol=1e-6)


def test_adaptive_threshold_keeps_about_k_edges_per_node():
    X = np.random.default_rng(1).normal(size=(60, 8))
    ei, _ = similarity_graph(X, method="threshold", k=6)
    assert (ei[0] != ei[1]).all()
    # MOGONET's count includes each node's self-similarity: k - 1 others per node on average,
    # before symmetrisation (which can only add the reverse of one-sided pairs: none here)
    assert ei.shape[1] == 60 * 5
    assert {tuple(e) for e in ei.T.tolist()} == {(j, i) for i, j in ei.T.tolist()}


def test_test_labels_are_masked():
    X, y, test = _cohort()
    a = transductive_gcn(X, y, ~test, task=TASKS.get("binary")(), seed=0, **FAST)
    y_changed = y.copy()
    y_changed[test] = 1 - y_changed[test]  # flip every test label
    b = transductive_gcn(X, y_changed, ~test, task=TASKS.get("binary")(), seed=0, **FAST)
    np.testing.assert_array_equal(a, b)
    y_changed[np.flatnonzero(~test)[:10]] ^= 1  # a training label does change the result
    c = transductive_gcn(X, y_changed, ~test, task=TASKS.get("binary")(), seed=0, **FAST)
    assert not np.array_equal(a, c)


def test_baseline_learns_on_a_simulated_cohort(monkeypatch):
    assert BASELINES.get("patient_gcn") is PatientGCNBaseline
    monkeypatch.setattr(PatientGCNBaseline, "OPTIONS", {"graph": "knn", "k": 8, **FAST})
    X, y, test = _cohort(n=120, seed=3)
    model = BASELINES.get("patient_gcn")(task=TASKS.get("binary")(), seed=0)
    proba = model.fit(X[~test], y[~test], n_classes=2).predict(X[test])
    assert proba.shape == (test.sum(), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y[test], proba[:, 1]) > 0.8


@pytest.mark.parametrize("task", ["multiclass", "regression", "survival"])
def test_other_tasks_run(task):
    rng = np.random.default_rng(0)
    y = rng.permutation(np.repeat([0, 1, 2], 20))
    X = rng.normal(size=(60, 6))
    X[:, :3] += 2.0 * np.eye(3)[y]
    targets = {  # y drives each task's target
        "multiclass": y,
        "regression": y + 0.1 * rng.normal(size=60),
        "survival": np.stack([np.exp(-y + 0.1 * rng.normal(size=60)), np.ones(60)], axis=1),
    }
    target = targets[task]
    model = PatientGCNBaseline(task=TASKS.get(task)(), seed=0)
    model.OPTIONS = {"graph": "threshold", "k": 6, **FAST}
    out = model.fit(X[:45], target[:45], n_classes=3).predict(X[45:])
    score = model.task.metrics(target[45:], out, n_classes=3)
    assert out.shape[0] == 15
    # within a group of y survival times are noise: a C-index near 0.83 is the ceiling
    floor = {"multiclass": ("roc_auc", 0.9), "regression": ("r2", 0.6)}
    metric, least = floor.get(task, ("c_index", 0.8))
    assert score[metric] > least
