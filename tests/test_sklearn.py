"""The scikit-learn estimators: sklearn's own estimator checks, pipelines, cross-validation,
grid search, and several modalities given as a dict or as two column levels."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from biozoo.errors import BiozooError
from biozoo.sklearn import BiozooClassifier, BiozooRegressor, EstimatorInputError

FAST = {"epochs": 10, "ensemble": 1, "patience": 10, "lr": 0.05, "batch_size": 64}
"""Training keys small enough for each of sklearn's checks to take a fraction of a second."""

EXPECTED_FAILURES = {
    BiozooRegressor: {
        "check_methods_subset_invariance": (
            "the network computes in float32: predicting a subset of rows rounds the matrix "
            "products differently from predicting them all at once (differences of ~1e-7, "
            "the check's tolerance)"
        ),
    },
}


def expected_failed_checks(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES.get(type(estimator), {})


@pytest.fixture(autouse=True)
def quiet():
    """Small check data sets make the inner split warn that it cannot stratify."""
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


@parametrize_with_checks(
    [BiozooClassifier(training=FAST), BiozooRegressor(training=FAST)],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _two_modalities(n: int = 60, seed: int = 0):
    X, y = make_classification(n, 10, n_informative=4, random_state=seed)
    ids = [f"s{i}" for i in range(n)]
    clin = pd.DataFrame(X[:, :3], index=ids, columns=["age", "stage", "grade"])
    rna = pd.DataFrame(X[:, 3:], index=ids, columns=[f"g{j}" for j in range(7)])
    return {"clin": clin, "rna": rna}, y


MODEL = {
    "encoders": {"rna": {"name": "mlp", "hidden": [8], "out_dim": 4}},
    "fusion": {"name": "late"},
}


def test_a_dict_of_tables_is_aligned_by_index():
    tables, y = _two_modalities()
    clf = BiozooClassifier(MODEL, training=FAST).fit(tables, y)
    assert clf.modalities_ == {
        "clin": ["age", "stage", "grade"],
        "rna": [f"g{j}" for j in range(7)],
    }
    assert clf.predict_proba(tables).shape == (60, 2)
    shuffled = {"clin": tables["clin"], "rna": tables["rna"].sample(frac=1.0, random_state=1)}
    np.testing.assert_allclose(clf.predict_proba(shuffled), clf.predict_proba(tables))
    joined = pd.concat(tables, axis=1)  # the same data as two column levels
    np.testing.assert_allclose(clf.predict_proba(joined), clf.predict_proba(tables))


def test_a_sample_missing_from_a_table_lacks_that_modality():
    tables, y = _two_modalities()
    partial = {"clin": tables["clin"], "rna": tables["rna"].iloc[10:]}
    clf = BiozooClassifier(MODEL, training=FAST).fit(partial, y)
    proba = clf.predict_proba(partial)
    assert np.isfinite(proba).all()
    blank = tables["rna"].copy()
    blank.iloc[:10] = np.nan  # all missing: the same as no row
    np.testing.assert_array_equal(clf.predict_proba({"clin": tables["clin"], "rna": blank}), proba)


def test_labels_come_back_as_given_and_fits_repeat():
    tables, y = _two_modalities()
    labels = np.where(y == 1, "relapse", "free")
    clf = BiozooClassifier(training=FAST).fit(tables, labels)
    assert list(clf.classes_) == ["free", "relapse"]
    assert set(clf.predict(tables)) <= {"free", "relapse"}
    again = clone(clf).fit(tables, labels)
    np.testing.assert_array_equal(again.predict_proba(tables), clf.predict_proba(tables))
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(tables), clf.predict_proba(tables))


def test_pipeline_cross_val_score_and_grid_search():
    tables, y = _two_modalities()
    X = pd.concat(tables, axis=1)
    X.iloc[0, 0] = np.nan
    pipe = Pipeline([("impute", SimpleImputer()), ("clf", BiozooClassifier(training=FAST))])
    pipe.set_params(clf__training__epochs=5)
    assert pipe.named_steps["clf"].training["epochs"] == 5
    scores = cross_val_score(BiozooClassifier(MODEL, training=FAST), X, y, cv=KFold(3))
    assert scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()
    grid = GridSearchCV(
        BiozooClassifier(training=FAST),
        {"training__lr": [0.01, 0.05], "model": [None, MODEL]},
        cv=KFold(2),
    ).fit(X, y)
    assert set(grid.best_params_) == {"training__lr", "model"}
    assert grid.best_estimator_.config_.training.lr == grid.best_params_["training__lr"]
    assert pipe.fit(X, y).score(X, y) > 0.5


def test_set_params_of_training_leaves_the_shared_mapping_alone():
    training = dict(FAST)
    clf = BiozooClassifier(training=training)
    clf.set_params(training__lr=0.5, training__epochs=3)
    assert clf.training == {**FAST, "lr": 0.5, "epochs": 3}
    assert training == FAST


def test_regression_predicts_on_the_targets_scale():
    X, y = make_regression(80, 6, noise=1.0, random_state=0)
    y = 1000.0 + 50.0 * y
    reg = BiozooRegressor(training={**FAST, "epochs": 40}).fit(X, y)
    pred = reg.predict(X)
    assert abs(pred.mean() - y.mean()) < 0.5 * y.std()
    assert reg.score(X, y) > 0.5


def test_a_model_spec_option_and_modality_options_are_used():
    tables, y = _two_modalities()
    options = {"rna": {"transforms": {"top_k": 3}}}
    clf = BiozooClassifier(MODEL, training=FAST, modalities=options).fit(tables, y)
    assert len(clf.model_.transforms.parts["rna"].feature_names()) == 3
    assert clf.config_.models["model"].fusion.name == "late"
    assert len(clf.model_.info["seeds"]) == 1


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"model": {"fusion": {"name": "concatt"}}}, r"models\.model\.fusion\.name.*concat"),
        ({"training": {"optimizr": "adamw"}}, r"training\.optimizr: unknown key"),
        ({"modalities": {"rna": {"path": "x.csv"}}}, r"modalities\.rna\.path does not apply"),
        ({"modalities": {"gex": {}}}, r"modalities\.gex names no modality of X"),
    ],
    ids=["fusion", "training-key", "modality-path", "modality-name"],
)
def test_bad_parameters_are_one_sentence(params, match):
    tables, y = _two_modalities()
    with pytest.raises(BiozooError, match=match):
        BiozooClassifier(**params).fit(tables, y)


def test_bad_x_is_one_sentence():
    tables, y = _two_modalities()
    with pytest.raises(EstimatorInputError, match=r"X\['rna'\] is a ndarray"):
        BiozooClassifier(training=FAST).fit({"rna": tables["rna"].to_numpy()}, y)
    clf = BiozooClassifier(training=FAST).fit(tables, y)
    with pytest.raises(EstimatorInputError, match="fitted on clin, rna"):
        clf.predict({"rna": tables["rna"], "clin": tables["clin"]})
