"""Tests of TableTransform (each step, leakage, persistence, align) and TargetScaler."""

from __future__ import annotations

import inspect
import json
import tracemalloc

import numpy as np
import pytest
from safetensors.numpy import load, save
from sklearn.feature_selection import f_classif, r_regression

from biozoo.data.spec import TransformConfig
from biozoo.data.splits import make_splits
from biozoo.data.table import transform as tmod
from biozoo.data.table.transform import TableTransform
from biozoo.errors import BiozooError
from biozoo.tasks import TASKS
from biozoo.tasks.regression import TargetScaler


def names(p: int) -> list[str]:
    return [f"f{i}" for i in range(p)]


def fit(X: np.ndarray, y: np.ndarray | None = None, task: str = "binary", **kw) -> TableTransform:
    return TableTransform(**kw).fit(X, y, task=TASKS.get(task)(), features=names(X.shape[1]))


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 10)
    X = rng.normal(size=(30, 12)).astype(np.float32)
    X[:, :3] += y[:, None].astype(np.float32)  # informative columns 0..2
    X[rng.random(X.shape) < 0.1] = np.nan
    return X, y


def test_config_fields_match_signature() -> None:
    params = inspect.signature(TableTransform).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    fields = TransformConfig.model_fields
    assert list(params) == list(fields)
    assert {k: p.default for k, p in params.items()} == {k: f.default for k, f in fields.items()}


def test_too_missing_dropped() -> None:
    X = np.arange(40, dtype=np.float32).reshape(10, 4) % 7
    X[:6, 1] = np.nan  # 60 % missing
    X[:5, 2] = np.nan  # 50 % missing: kept at max_missing=0.5
    X[:, 3] = np.nan
    tt = fit(X, max_missing=0.5)
    assert tt.selected_features == ["f0", "f2"]
    assert tt.report["too_missing"] == 2
    assert fit(X, max_missing=1.0).selected_features == ["f0", "f1", "f2"]  # all-NaN still out


def test_constant_column_dropped_and_report_adds_up(data) -> None:
    X, y = data
    X = X.copy()
    X[:, 5] = 3.0
    X[:, 6] = np.where(np.isnan(X[:, 6]), np.nan, 1.0)  # constant once imputed
    tt = fit(X, y)
    assert "f5" not in tt.selected_features and "f6" not in tt.selected_features
    r = tt.report
    assert r["constant"] == 2 and r["kept"] == tt.n_out == 10
    assert sum(v for k, v in r.items() if k != "input") == r["input"] == 12


def test_imputation_uses_training_medians() -> None:
    X = np.array([[1, 10], [2, 20], [4, np.nan], [np.nan, 50], [9, 60]], dtype=np.float32)
    new = np.array([[np.nan, np.nan]], dtype=np.float32)
    med = fit(X, scale=False).transform(new)
    np.testing.assert_array_equal(med, [[3.0, 35.0]])  # medians of the observed values
    mean = fit(X, impute="mean", scale=False).transform(new)
    np.testing.assert_allclose(mean, [[4.0, 35.0]])
    zero = fit(X, impute="zero", scale=False).transform(new)
    np.testing.assert_array_equal(zero, [[0.0, 0.0]])
    # with scaling, the fill value is standardized with the imputed training column
    col = np.array([1, 2, 4, 3, 9.0])
    got = fit(X).transform(new)[0, 0]
    assert got == pytest.approx((3 - col.mean()) / col.std(), rel=1e-6)


def test_median_matches_nanmedian() -> None:
    rng = np.random.default_rng(1)
    B = rng.normal(size=(50, 9))
    B[rng.random(B.shape) < 0.3] = np.nan
    B = B[~np.isnan(B).all(axis=1)]
    got = tmod._nanmedian_rows(B, np.isnan(B))
    np.testing.assert_allclose(got, np.nanmedian(B, axis=1), rtol=0, atol=0)


def test_standardized_training_output(data) -> None:
    X, y = data
    tt = fit(X, y)
    Z = tt.transform(X)
    assert Z.dtype == np.float32 and not np.isnan(Z).any()
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, atol=1e-5)


def test_log1p() -> None:
    X = np.array([[0, 1], [3, 2], [7, 5], [1, 4]], dtype=np.float32)
    Z = fit(X, log1p=True, scale=False).transform(X)
    np.testing.assert_allclose(Z, np.log1p(X), rtol=1e-6)
    bad = X.copy()
    bad[0, 1] = -1.0
    with pytest.raises(BiozooError, match="log1p.*'f1'"):
        fit(bad, log1p=True)
    dropped = np.c_[X, [[-5], [np.nan], [np.nan], [np.nan]]].astype(np.float32)
    assert fit(dropped, log1p=True).report["too_missing"] == 1  # checked after step 1


def test_infinite_values_rejected() -> None:
    X = np.array([[0, 1], [3, np.inf], [7, 5]], dtype=np.float32)
    with pytest.raises(BiozooError, match="'f1' has infinite"):
        fit(X)


def test_top_k_picks_informative_columns(data) -> None:
    X, y = data
    tt = fit(X, y, task="multiclass", top_k=3)
    assert tt.selected_features == ["f0", "f1", "f2"]
    assert tt.report["not_top_k"] == 9
    yr = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]).astype(np.float64)
    assert fit(X, yr, task="regression", top_k=2).selected_features == ["f0", "f1"]


def test_scores_match_sklearn(data) -> None:
    X, y = data
    B = np.nan_to_num(X.astype(np.float64)).T.copy()
    f = tmod._association(B, B.var(axis=1), TASKS.get("multiclass")().ranking_target(y))
    np.testing.assert_allclose(f, f_classif(B.T, y)[0], rtol=1e-9)
    yr = np.linspace(0, 1, 30) ** 2
    r = tmod._association(B, B.var(axis=1), TASKS.get("regression")().ranking_target(yr))
    np.testing.assert_allclose(r, np.abs(r_regression(B.T, yr)), rtol=1e-9)


def test_ties_keep_column_order(data) -> None:
    X, y = data
    X = np.c_[X[:, 4:6], X[:, 0], X[:, 0], X[:, 0]].astype(np.float32)  # three equal best
    assert fit(X, y, top_k=2).selected_features == ["f2", "f3"]
    assert fit(X, y, top_k=2, max_corr=0.99).selected_features == ["f1", "f2"]  # f1 beats f0
    assert fit(X, y, max_corr=1.0).n_out == 5  # the bound is inclusive: |r| = 1 is kept
    with pytest.raises(BiozooError, match="two classes"):
        fit(X, np.zeros(30, dtype=int), top_k=2)


def test_redundant_column_dropped_keeping_the_more_associated(data) -> None:
    X, y = data
    rng = np.random.default_rng(2)
    best = y + 0.1 * rng.normal(size=30)
    worse = best + 0.15 * rng.normal(size=30)  # |r| with best > 0.9, less tied to y
    X = np.c_[worse, X[:, 4:8], best].astype(np.float32)
    tt = fit(X, y, top_k=3, max_corr=0.9)
    assert "f5" in tt.selected_features and "f0" not in tt.selected_features
    assert tt.report["redundant"] == 1 and tt.n_out == 3
    # without ranking, the scan runs in column order and keeps the first of the pair
    plain = fit(X, y, max_corr=0.9)
    assert "f0" in plain.selected_features and "f5" not in plain.selected_features


def brute_force(X: np.ndarray, order: np.ndarray, thr: float, limit: int) -> list[int]:
    R = np.abs(np.corrcoef(X.T.astype(np.float64)))
    kept: list[int] = []
    for j in order:
        if all(R[j, i] <= thr for i in kept):
            kept.append(int(j))
        if len(kept) == limit:
            break
    return sorted(kept)


@pytest.mark.parametrize("chunk", [1024, 7])
@pytest.mark.parametrize("top_k", [None, 12])
def test_redundancy_scan_matches_brute_force(monkeypatch, chunk, top_k) -> None:
    monkeypatch.setattr(tmod, "_SCAN_CHUNK", chunk)
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    base = rng.normal(size=(300, 10)) + y[:, None] * rng.random(10)
    X = np.repeat(base, 5, axis=1) + rng.normal(size=(300, 50)) * rng.uniform(0.1, 0.8, 50)
    X = X.astype(np.float32)
    tt = fit(X, y, top_k=top_k, max_corr=0.8)
    Xs = X.astype(np.float64)
    if top_k is None:
        order = np.arange(50)
    else:
        f = f_classif(Xs, y)[0]
        order = np.argsort(-f, kind="stable")
    want = brute_force(X, order, 0.8, top_k or 50)
    assert list(tt._index) == want
    assert tt.report["redundant"] > 0


def test_greedy_in_order_matches_loop() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        A = np.triu(rng.random((40, 40)) < 0.1, k=1)
        kept: list[int] = []
        for j in range(40):
            if not any(A[i, j] for i in kept):
                kept.append(j)
        assert list(np.flatnonzero(tmod._greedy_in_order(A))) == kept


def test_redundancy_filter_has_no_p_by_p_allocation() -> None:
    rng = np.random.default_rng(5)
    p = 20_000
    X = rng.standard_normal((300, p), dtype=np.float32)
    y = rng.integers(0, 2, 300)
    tracemalloc.start()
    tt = fit(X, y, top_k=100, max_corr=0.9)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert tt.n_out == 100
    assert peak < 100e6 < p * p * 4  # a p x p float32 matrix would be 1.6 GB


def test_leakage_test_rows_never_reach_the_fit(data) -> None:
    X, y = data
    split = make_splits(y, stratify=y, folds=3)[0]
    garbage, yg = X.copy(), y.copy()
    garbage[split.test[::2]] = 1e30
    garbage[split.test[1::2]] = np.nan
    yg[split.test] = 2 - yg[split.test]
    kw = {"top_k": 6, "max_corr": 0.5, "log1p": False}
    clean = fit(X[split.train], y[split.train], **kw)
    dirty = fit(garbage[split.train], yg[split.train], **kw)
    (a1, m1), (a2, m2) = clean.state(), dirty.state()
    assert m1 == m2
    for k in a1:
        assert a1[k].tobytes() == a2[k].tobytes()
    Zc, Zd = clean.transform(X[split.train]), dirty.transform(garbage[split.train])
    assert Zc.tobytes() == Zd.tobytes()


def test_rows_are_transformed_independently(data) -> None:
    X, y = data
    tt = fit(X[:20], y[:20], top_k=5)
    full = tt.transform(X)
    others = np.full_like(X, 1e30)
    for i in range(len(X)):
        assert tt.transform(X[[i]]).tobytes() == full[[i]].tobytes()
        mixed = others.copy()
        mixed[i] = X[i]
        assert tt.transform(mixed)[i].tobytes() == full[i].tobytes()


def test_state_round_trip_through_safetensors(data) -> None:
    X, y = data
    tt = fit(X, y, top_k=5, max_corr=0.95, log1p=False, impute="mean")
    arrays, meta = tt.state()
    arrays2 = load(save(arrays))
    meta2 = json.loads(json.dumps(meta))
    back = TableTransform.from_state(arrays2, meta2)
    assert back.selected_features == tt.selected_features
    assert back.input_features == tt.input_features and back.report == tt.report
    assert back.transform(X).tobytes() == tt.transform(X).tobytes()
    assert repr(back) == repr(tt)
    with pytest.raises(ValueError, match="not the saved state"):
        TableTransform.from_state({}, meta2)


def test_align_reorders_and_reports_missing(data) -> None:
    X, y = data
    tt = fit(X, y)
    perm = np.random.default_rng(6).permutation(12)
    shuffled = np.c_[X[:, perm], np.ones(30)]
    feats = [f"f{i}" for i in perm] + ["extra"]
    aligned = tt.align(shuffled, feats, source="new.csv")
    assert np.array_equal(aligned, X, equal_nan=True)
    with pytest.raises(BiozooError, match=r"new.csv lacks 2 of the 12 features .*'f3', 'f7'"):
        tt.align(X[:, :10], [f for f in names(12) if f not in ("f3", "f7")], source="new.csv")
    with pytest.raises(BiozooError, match="repeat the name 'f1'"):
        tt.align(X, [*names(11), "f1"])


def test_align_needs_only_the_selected_features(data) -> None:
    X, y = data
    tt = fit(X, y, top_k=3)
    kept = tt.selected_features
    cols = [int(f[1:]) for f in kept]
    aligned = tt.align(X[:, cols], kept, source="new.csv")
    assert np.array_equal(tt.transform(aligned), tt.transform(X))
    with pytest.raises(BiozooError, match="lacks 1 of the 3 features the model uses"):
        tt.align(X[:, cols[1:]], kept[1:], source="new.csv")


def test_misuse_errors(data) -> None:
    X, y = data
    with pytest.raises(RuntimeError, match="not fitted"):
        TableTransform().transform(X)
    with pytest.raises(ValueError, match="give y"):
        fit(X, None, top_k=3)
    with pytest.raises(BiozooError, match="no feature survived"):
        fit(np.ones((5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="expected 12 columns"):
        fit(X).transform(X[:, :5])


@pytest.mark.parametrize("shape", [(20,), (20, 3)])
def test_target_scaler(shape) -> None:
    y = np.random.default_rng(7).normal(5.0, 3.0, size=shape)
    ts = TargetScaler().fit(y[:15])
    z = ts.transform(y[:15])
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-6)
    np.testing.assert_allclose(ts.inverse_transform(ts.transform(y)), y, rtol=1e-5)
    arrays, meta = ts.state()
    back = TargetScaler.from_state(load(save(arrays)), json.loads(json.dumps(meta)))
    assert back.transform(y).tobytes() == ts.transform(y).tobytes()
    assert TargetScaler().fit(np.ones(4)).transform(np.ones(2)).tolist() == [0.0, 0.0]


def test_robust_clip_centres_on_the_median_scales_by_the_iqr_and_clips_smoothly() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    X[:, 1] = np.where(rng.random(200) < 0.9, 0.0, rng.exponential(size=200))  # mostly zero
    X[0, 0] = 1e6  # an outlier barely moves the median and quartiles
    tt = fit(X, scale="robust_clip", min_variance=0.0)
    Z = tt.transform(X).astype(np.float64)
    assert np.abs(Z).max() <= 3.0  # x / sqrt(1 + (x/3)^2) stays inside (-3, 3)
    q1, med, q3 = np.quantile(X[:, 0], [0.25, 0.5, 0.75])
    u = (X[1:5, 0] - med) / (q3 - q1)
    np.testing.assert_allclose(Z[1:5, 0], u / np.sqrt(1 + (u / 3) ** 2), rtol=1e-5)
    # the mostly-zero column (quartiles equal) is divided by half its range instead
    half = (X[:, 1].max() - X[:, 1].min()) / 2
    u = X[:, 1] / half
    np.testing.assert_allclose(Z[:, 1], u / np.sqrt(1 + (u / 3) ** 2), rtol=1e-5, atol=1e-7)
    arrays, meta = tt.state()
    again = TableTransform.from_state(arrays, json.loads(json.dumps(meta)))
    np.testing.assert_array_equal(again.transform(X), tt.transform(X))
    assert TransformConfig(scale="robust_clip").scale == "robust_clip"
    assert TransformConfig().scale is True
    with pytest.raises(ValueError, match="scale must be"):
        TableTransform(scale="robust")
