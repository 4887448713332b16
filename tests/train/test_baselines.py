"""Contract tests over every registered baseline and task, plus each baseline's settings."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV

from biozoo.errors import BiozooError
from biozoo.tasks import TASKS as TASK_REGISTRY
from biozoo.tasks import estimators
from biozoo.train.baselines import (
    BASELINES,
    GradientBoostingBaseline,
    LinearBaseline,
    RandomForestBaseline,
)

TASKS = ("binary", "multiclass", "regression")
N_CLASSES = {"binary": 2, "multiclass": 3, "regression": None}


def T(name: str):
    """The task registered as ``name``."""
    return TASK_REGISTRY.get(name)()


@pytest.fixture
def few_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    """500 trees cost ~0.7 s per fit; the contract does not depend on the count."""
    monkeypatch.setattr(estimators, "N_TREES", 20)


def easy_data(task: str, n: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A separable problem: the target is driven by the first feature."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    if task == "regression":
        return X, 2.0 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=n)
    n_classes = N_CLASSES[task]
    y = np.arange(n) % n_classes
    X[:, 0] += 3.0 * y
    return X, y.astype(np.int64)


def fit_predict(name: str, task: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, y = easy_data(task)
    model = BASELINES.get(name)(task=T(task), seed=seed)
    # gradient boosting's default min_samples_leaf=20 needs a few dozen training samples
    assert model.fit(X[:60], y[:60], n_classes=N_CLASSES[task]) is model
    return model.predict(X[60:]), y[60:]


@pytest.mark.usefixtures("few_trees")
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", BASELINES.names())
def test_contract(name: str, task: str) -> None:
    pred, y_test = fit_predict(name, task)
    assert pred.dtype == np.float64
    assert np.all(np.isfinite(pred))
    if task == "regression":
        assert pred.shape == (20,)
        assert T(task).metrics(y_test, pred)["r2"] > 0.5
        return
    assert pred.shape == (20, N_CLASSES[task])
    assert np.all((pred >= 0) & (pred <= 1))
    np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-9)
    assert T(task).metrics(y_test, pred)["roc_auc"] > 0.8


@pytest.mark.usefixtures("few_trees")
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", BASELINES.names())
def test_deterministic_given_seed(name: str, task: str) -> None:
    first, _ = fit_predict(name, task, seed=3)
    second, _ = fit_predict(name, task, seed=3)
    np.testing.assert_array_equal(first, second)


@pytest.mark.usefixtures("few_trees")
@pytest.mark.parametrize("name", BASELINES.names())
def test_class_missing_from_training_fold_is_padded(name: str) -> None:
    X, y = easy_data("multiclass")
    y = np.where(y == 1, 2, y)  # classes 0 and 2 only; the cohort has 4 classes
    model = BASELINES.get(name)(task=T("multiclass")).fit(X, y, n_classes=4)
    proba = model.predict(X[:5])
    assert proba.shape == (5, 4)
    # exactly 0 from scikit-learn estimators, which never see the class; near 0 from
    # patient_gcn, whose head has an output per class that training only ever pushes down
    assert np.all(proba[:, [1, 3]] < 1e-2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)


@pytest.mark.parametrize("name", BASELINES.names())
def test_single_class_training_fold_predicts_that_class(name: str) -> None:
    X, _ = easy_data("binary", n=8)
    model = BASELINES.get(name)(task=T("binary")).fit(X, np.ones(8, dtype=np.int64))
    np.testing.assert_allclose(model.predict(X[:3]), [[0.0, 1.0]] * 3, atol=1e-2)


def test_registry_names_and_labels() -> None:
    assert BASELINES.names() == ["gradient_boosting", "linear", "patient_gcn", "random_forest"]
    for task in TASKS:
        linear = "ridge (CV)" if task == "regression" else "logistic/ridge (CV)"
        assert LinearBaseline.label_for(T(task)) == linear
        assert RandomForestBaseline.label_for(T(task)) == "random forest"
        assert GradientBoostingBaseline.label_for(T(task)) == "gradient boosting"
    assert "cox" in LinearBaseline.label_for(T("survival"))
    with pytest.raises(BiozooError, match="did you mean 'linear'"):
        BASELINES.get("lineer")


def test_settings_of_forest_and_boosting() -> None:
    X, y = easy_data("binary", n=40)
    forest = RandomForestBaseline(task=T("binary"), seed=7, n_jobs=2).fit(X, y).model_.estimator
    assert (forest.n_estimators, forest.random_state, forest.n_jobs) == (500, 7, 2)
    boosting = GradientBoostingBaseline(task=T("regression"), seed=7).fit(X, y.astype(float))
    boosting = boosting.model_.estimator
    assert boosting.early_stopping is False and boosting.random_state == 7


def test_linear_inner_cv_folds_follow_smallest_class() -> None:
    X, _ = easy_data("multiclass", n=30)
    y = np.array([0] * 20 + [1] * 7 + [2] * 3)
    model = LinearBaseline(task=T("multiclass"), seed=1).fit(X, y)
    assert isinstance(model.model_.estimator, LogisticRegressionCV)
    assert model.model_.estimator.cv.n_splits == 3
    assert len(model.model_.estimator.Cs_) == 10
    y[-2:] = [0, 0]  # class 2 now has one sample: no inner CV is possible
    model = LinearBaseline(task=T("multiclass")).fit(X, y)
    assert type(model.model_.estimator) is LogisticRegression
    assert model.predict(X).shape == (30, 3)


def test_linear_regression_is_ridge_cv() -> None:
    X, y = easy_data("regression", n=20)
    model = LinearBaseline(task=T("regression")).fit(X, y)
    assert isinstance(model.model_.estimator, RidgeCV)
    assert model.model_.estimator.alpha_ in estimators.RIDGE_ALPHAS


def test_bad_use_raises() -> None:
    X, y = easy_data("multiclass", n=9)
    with pytest.raises(ValueError, match="n_classes=2"):
        LinearBaseline(task=T("binary")).fit(X, y, n_classes=3)
    with pytest.raises(ValueError, match="0..1"):
        LinearBaseline(task=T("multiclass")).fit(X, y, n_classes=2)
    with pytest.raises(ValueError, match="integer class codes"):
        LinearBaseline(task=T("binary")).fit(X, np.full(9, 0.5))
    with pytest.raises(RuntimeError, match="fitted"):
        GradientBoostingBaseline(task=T("binary")).predict(X)
