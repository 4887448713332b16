"""The survival task: target encoding and its bad-input sentences, event-stratified labels,
metrics against scikit-survival, prediction columns and the survival baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)

from biozoo.errors import BiozooError
from biozoo.tasks import TASKS, Reference, SurvivalOptions, SurvivalTask
from biozoo.tasks.cox import BreslowBaseline
from biozoo.tasks.survival import time_grid
from biozoo.tasks.survival_estimators import CoxnetCV, structured

OPTIONS = SurvivalOptions(time="time", event="event")


def _labels(time, event):
    ids = [f"S{i}" for i in range(len(time))]
    return pd.DataFrame({"time": time, "event": event}, index=pd.Index(ids, name="sample_id"))


def simulate(n=200, p=5, seed=0):
    """Exponential times with log-hazard ``x @ beta`` and independent censoring."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    beta = np.zeros(p)
    beta[:2] = [1.0, -0.7]
    t_event = rng.exponential(np.exp(-x @ beta))
    t_cens = rng.exponential(1.5, n)
    time = np.minimum(t_event, t_cens)
    event = (t_event <= t_cens).astype(np.float64)
    return x, np.stack([time, event], axis=1), x @ beta


def test_registered_with_options_read_by_the_task():
    cls = TASKS.get("survival")
    assert cls is SurvivalTask
    opts = cls.parse_options({"time": "t.tdm", "event": "e.tdm", "ties": "breslow"}, where="t")
    assert opts.columns() == ["t.tdm", "e.tdm"]
    assert cls.from_options(opts).ties == "breslow"
    with pytest.raises(BiozooError, match=r"data.target.event: field required"):
        cls.parse_options({"time": "t"}, where="data.target")
    with pytest.raises(BiozooError, match=r"data.target.column: extra"):
        cls.parse_options({"time": "t", "event": "e", "column": "x"}, where="data.target")


def test_encode_target_gives_time_and_event():
    enc = SurvivalTask().encode_target(_labels([3.0, 0.0, 5.5], [1, 0, True]), OPTIONS, "y.csv")
    np.testing.assert_array_equal(enc.values, [[3.0, 1.0], [0.0, 0.0], [5.5, 1.0]])
    assert enc.classes is None
    words = _labels([1, 2], ["True", "false"])
    events = SurvivalTask().encode_target(words, OPTIONS, "y").values[:, 1]
    np.testing.assert_array_equal(events, [1, 0])


T, E = "time column 'time' of y.csv", "event column 'event' of y.csv"
BAD = [
    ([1.0, -2.0, 3.0], [1, 0, 1], rf"{T} has a negative time \(-2\) for sample 'S1'\."),
    ([1.0, None, 3.0], [1, 0, 1], rf"{T} has no time for sample 'S1'\."),
    ([1.0, "soon", 3.0], [1, 0, 1], rf"{T} must be numeric, but sample 'S1' has 'soon'\."),
    ([1.0, 2.0, 3.0], [1, 2, 0], rf"{E} must hold 0/1 \(or False/True\), but sample 'S1' has 2\."),
    ([1.0, 2.0, 3.0], [1, None, 0], rf"{E} must hold 0/1 .* sample 'S1'"),
    ([1.0, 2.0, 3.0], [0, 0, 0], rf"{E} holds no event \(every sample is censored\)"),
]


@pytest.mark.parametrize(("time", "event", "message"), BAD)
def test_bad_input_is_one_sentence_naming_the_file(time, event, message):
    with pytest.raises(BiozooError, match=message) as err:
        SurvivalTask().encode_target(_labels(time, event), OPTIONS, "y.csv")
    assert str(err.value).count(". ") == 0 and str(err.value).endswith(".")


def test_splits_are_stratified_by_event():
    target = np.array([[1.0, 1.0], [2.0, 0.0], [3.0, 1.0]])
    np.testing.assert_array_equal(SurvivalTask().stratify_labels(target), [1, 0, 1])


def test_metrics_match_scikit_survival():
    x, target, _ = simulate(n=240)
    train, test = target[:160], target[160:]
    risk_train = x[:160, 0] - 0.7 * x[:160, 1]
    risk = x[160:, 0] - 0.7 * x[160:, 1]
    ref = Reference(train, risk_train)
    got = SurvivalTask().metrics(test, risk, reference=ref)
    assert list(got) == list(SurvivalTask.metric_names)
    ytr, yte = structured(train), structured(test)
    grid = time_grid(ytr, yte)
    assert len(grid) >= 5
    lo, hi = np.percentile(yte["time"], [10, 80])
    assert grid.min() >= lo and grid.max() < hi
    surv = BreslowBaseline().fit(risk_train, ytr["time"], ytr["event"]).survival(risk, grid)
    within = yte.copy()  # events past the training follow-up have no censoring weight
    within["event"] &= within["time"] < ytr["time"].max()
    want = {
        "c_index": concordance_index_censored(yte["event"], yte["time"], risk)[0],
        "uno_c_index": concordance_index_ipcw(ytr, yte, risk, tau=grid[-1])[0],
        "ibs": integrated_brier_score(ytr, within, surv, grid),
        "td_auc": cumulative_dynamic_auc(ytr, within, risk, grid)[1],
    }
    assert got == pytest.approx(want, rel=1e-12)
    assert 0.7 < got["c_index"] < 0.9 and got["ibs"] < 0.25  # the true risk ranks well
    flipped = SurvivalTask().metrics(test, -risk, reference=ref)
    assert flipped["c_index"] == pytest.approx(1 - got["c_index"], abs=1e-9)
    alone = SurvivalTask().metrics(test, risk)
    assert alone["c_index"] == got["c_index"] and np.isnan(alone["ibs"])


def test_prediction_columns_hold_risk_and_breslow_survival():
    x, target, risk = simulate(n=100)
    ref = Reference(target[:70], risk[:70])
    cols = SurvivalTask().prediction_columns(target[70:], risk[70:], reference=ref)
    horizons = [f"{c}_q{q}" for q in (25, 50, 75) for c in ("t", "surv")]
    assert list(cols) == ["time", "event", "risk", *horizons]
    assert (cols["surv_q25"] >= cols["surv_q50"]).all()
    assert (cols["surv_q50"] >= cols["surv_q75"]).all()
    high = np.argmax(risk[70:])
    assert cols["surv_q50"][high] == cols["surv_q50"].min()
    new = SurvivalTask().prediction_columns(None, risk[70:])
    assert list(new) == ["risk"]


def test_baselines_on_the_same_fold():
    x, target, _ = simulate(n=200, seed=3)
    task = SurvivalTask()
    assert "cox" in task.baseline_label("linear")
    scores = {}
    for family in ("linear", "random_forest"):
        model = task.baseline(family, x[:140], target[:140], seed=0)
        pred = model.predict(x[140:])
        assert pred.shape == (60,) and np.isfinite(pred).all()
        ref = Reference(target[:140], model.predict(x[:140]))
        scores[family] = task.metrics(target[140:], pred, reference=ref)
    assert scores["linear"]["c_index"] > 0.7
    assert scores["random_forest"]["c_index"] > 0.65
    runs = [task.baseline("random_forest", x[:140], target[:140], seed=0) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].predict(x[140:]), runs[1].predict(x[140:]))


def test_coxnet_chooses_its_penalty_by_inner_cv():
    x, target, _ = simulate(n=150, p=20, seed=5)
    model = CoxnetCV(seed=0).fit(x, structured(target))
    assert model.alpha_ in model.model_.alphas_
    coef = model.model_.coef_[:, list(model.model_.alphas_).index(model.alpha_)]
    assert abs(coef[0]) > abs(coef[5:]).max()  # the informative feature survives the penalty


def test_ranking_target_is_the_null_martingale_residual_and_finds_the_risk_feature():
    from biozoo.data.table.transform import TableTransform

    x, target, _ = simulate(n=200, p=5, seed=1)
    rank = SurvivalTask().ranking_target(target)
    time, event = target.T
    na = np.array([np.sum(event[time <= t] / [np.sum(time >= s) for s in time[time <= t]])
                   for t in time])  # Nelson-Aalen at each sample's own time
    np.testing.assert_allclose(rank.values, (event - na) - (event - na).mean(), atol=1e-12)
    assert not rank.grouped
    features = [f"f{i}" for i in range(5)]
    tt = TableTransform(top_k=1).fit(x, target, task=SurvivalTask(), features=features)
    assert tt.selected_features == ["f0"]  # the strongest log-hazard coefficient
