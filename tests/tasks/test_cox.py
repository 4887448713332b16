"""The Cox partial likelihood (Breslow and Efron ties), the Cox head and the Breslow baseline
hazard, against direct formulas and scikit-survival."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.linear_model.coxph import BreslowEstimator

from biozoo.tasks.cox import BreslowBaseline, CoxHead, cox_loss
from biozoo.tasks.survival_estimators import structured


def _reference_loss(risk, time, event, ties):
    """Negative log partial likelihood per event, written out over distinct event times."""
    total, n_events = 0.0, 0
    for t in np.unique(time[event == 1]):
        dead = np.flatnonzero((time == t) & (event == 1))
        at_risk = np.exp(risk[time >= t]).sum()
        tied = np.exp(risk[dead]).sum()
        d = len(dead)
        for rank in range(d):
            c = rank / d if ties == "efron" else 0.0
            total += math.log(at_risk - c * tied)
        total -= risk[dead].sum()
        n_events += d
    return total / n_events


def _tied_data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 5, n).astype(np.float64)  # few distinct times: many ties
    event = (rng.random(n) < 0.7).astype(np.float64)
    event[0] = 1.0
    risk = rng.normal(size=n)
    return risk, time, event


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_loss_matches_the_direct_formula(ties):
    for seed in range(3):
        risk, time, event = _tied_data(seed=seed)
        got = cox_loss(torch.tensor(risk), torch.tensor(time), torch.tensor(event), ties=ties)
        assert got.item() == pytest.approx(_reference_loss(risk, time, event, ties), rel=1e-10)


def test_efron_and_breslow_agree_without_ties_and_differ_with_them():
    risk, time, event = _tied_data()
    args = torch.tensor(risk), torch.tensor(time), torch.tensor(event)
    assert cox_loss(*args, ties="efron") < cox_loss(*args, ties="breslow")
    distinct = torch.arange(12, dtype=torch.float64)
    a = cox_loss(args[0], distinct, args[2], ties="efron")
    b = cox_loss(args[0], distinct, args[2], ties="breslow")
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


def test_weight_zero_leaves_a_sample_out():
    risk, time, event = _tied_data()
    keep = np.ones(12)
    keep[[2, 5]] = 0.0
    t = [torch.tensor(v) for v in (risk, time, event)]
    got = cox_loss(*t, torch.tensor(keep))
    sel = keep == 1
    want = _reference_loss(risk[sel], time[sel], event[sel], "efron")
    assert got.item() == pytest.approx(want, rel=1e-10)


def test_no_event_gives_zero_and_large_risks_stay_finite():
    risk = torch.tensor([300.0, -300.0, 5.0], dtype=torch.float64, requires_grad=True)
    time, event = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 0.0, 0.0])
    assert cox_loss(risk, time, event).item() == 0.0
    loss = cox_loss(risk, time, torch.tensor([1.0, 1.0, 0.0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(risk.grad).all()


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_linear_cox_model_trained_by_the_loss_matches_scikit_survival(ties):
    rng = np.random.default_rng(1)
    n, p = 80, 3
    x = rng.normal(size=(n, p))
    beta = np.array([0.8, -0.5, 0.0])
    time = np.ceil(rng.exponential(np.exp(-x @ beta)) * 4)  # rounded: ties
    event = (rng.random(n) < 0.75).astype(np.float64)
    y = structured(np.stack([time, event], axis=1))
    want = CoxPHSurvivalAnalysis(ties=ties, alpha=0.0).fit(x, y).coef_

    xt, tt, et = torch.tensor(x), torch.tensor(time), torch.tensor(event)
    w = torch.zeros(p, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w], lr=1.0, max_iter=200, tolerance_grad=1e-12, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        loss = cox_loss(xt @ w, tt, et, ties=ties)
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(w.detach().numpy(), want, atol=1e-4)


def test_head_runs_under_vmap_over_members_and_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    m, b, k = 3, 8, 2
    outputs = torch.randn(m, b, k, 1, generator=g)
    view_mask = torch.rand(m, b, k, generator=g) > 0.2
    view_mask[..., 0] = True
    y = torch.stack(
        [
            torch.randint(1, 4, (m, b), generator=g).float(),
            (torch.rand(m, b, generator=g) < 0.6).float(),
        ],
        -1,
    )
    head = CoxHead("efron")
    stacked = torch.func.vmap(lambda o, v, t: head(o, v, t).loss)(outputs, view_mask, y)
    looped = torch.stack([head(outputs[i], view_mask[i], y[i]).loss for i in range(m)])
    torch.testing.assert_close(stacked, looped)
    pred = head(outputs[0], view_mask[0]).prediction
    assert pred.shape == (b,)


def test_head_loss_averages_the_views_over_the_samples_that_have_them():
    risk, time, event = _tied_data()
    outputs = torch.tensor(np.stack([risk, -risk], axis=1))[..., None]  # (B, 2, 1)
    mask = torch.ones(12, 2, dtype=torch.bool)
    mask[3, 1] = False
    y = torch.tensor(np.stack([time, event], axis=1))
    got = CoxHead("breslow")(outputs, mask, y).loss.item()
    sel = np.arange(12) != 3
    want = 0.5 * (
        _reference_loss(risk, time, event, "breslow")
        + _reference_loss(-risk[sel], time[sel], event[sel], "breslow")
    )
    assert got == pytest.approx(want, rel=1e-10)


def test_breslow_baseline_matches_scikit_survival():
    risk, time, event = _tied_data(n=30, seed=4)
    ours = BreslowBaseline().fit(risk, time, event)
    ref = BreslowEstimator().fit(risk, event.astype(bool), time)
    t = np.array([1.0, 2.0, 3.5, 4.0])  # from the first event time on
    want = np.array([fn(t) for fn in ref.get_cumulative_hazard_function(np.zeros(1))])[0]
    np.testing.assert_allclose(ours.cumulative_hazard(t), want, rtol=1e-10)
    assert ours.cumulative_hazard(np.array([0.5]))[0] == 0.0  # no event yet
    surv = ours.survival(np.array([0.0, 1.0]), t)
    np.testing.assert_allclose(surv[1], surv[0] ** math.e, rtol=1e-10)
    assert np.all(np.diff(surv, axis=1) <= 0)
