"""The life-event model: its likelihood, causality, age encoding, sampling, baseline and
protocol (patient-level splits, recovery of known hazards)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch.distributions import Categorical, Exponential

from biozoo.data.cohort import RecordModality
from biozoo.data.events import PAD, EventsConfig, EventTokens, History
from biozoo.data.sources.life_events import CODES, ENTRY, simulate_life_events, true_log_rates
from biozoo.encoders import DelphiEncoder
from biozoo.errors import BiozooError
from biozoo.inputs import EventsInput
from biozoo.layers.competing_exponentials import exponential_log_likelihood, sample_next_event
from biozoo.layers.positional import AgeEncoding
from biozoo.pipelines.life_events import (
    NO_EVENT,
    AgeSexIncidence,
    EventHistoryModel,
    LifeEventsConfig,
    load_life_events_config,
    rates_after,
    run_life_events,
    sample_trajectories,
    transitions,
    with_no_events,
)


def _batch(codes, ages, cov=None):
    codes = torch.tensor(codes)
    return {
        "codes": codes,
        "ages": torch.tensor(ages, dtype=torch.float32),
        "mask": codes != PAD,
        "covariates": torch.zeros(len(codes), 1) if cov is None else torch.tensor(cov),
    }


def _encoder(vocab=8, dropout=0.0):
    torch.manual_seed(0)
    return DelphiEncoder(EventsInput(vocab=vocab, max_len=6, covariates=1), dropout=dropout)


# ---------------------------------------------------------------- likelihood and sampler


def test_the_likelihood_is_categorical_times_exponential():
    g = torch.Generator().manual_seed(0)
    log_rates = torch.randn(5, 4, generator=g) - 2
    code = torch.tensor([0, 3, 1, 2, 2])
    dt = torch.rand(5, generator=g) * 10
    total = log_rates.exp().sum(-1)
    expected = Categorical(logits=log_rates).log_prob(code) + Exponential(total).log_prob(dt)
    torch.testing.assert_close(exponential_log_likelihood(log_rates, code, dt), expected)


def test_a_censored_interval_scores_the_survival_only():
    log_rates = torch.log(torch.tensor([[0.1, 0.2, 0.3]]))
    dt, observed = torch.tensor([2.0]), torch.tensor([False])
    ll = exponential_log_likelihood(log_rates, torch.tensor([1]), dt, observed)
    survival = torch.log(1 - Exponential(torch.tensor(0.6)).cdf(dt))
    torch.testing.assert_close(ll, survival)


def test_the_first_clock_to_ring_has_the_competing_exponential_law():
    rates = torch.tensor([0.5, 1.0, 2.5, 0.0])
    log_rates = rates.log().expand(40_000, 4)
    code, wait = sample_next_event(log_rates, torch.Generator().manual_seed(1))
    freq = torch.bincount(code, minlength=4).double() / len(code)
    torch.testing.assert_close(freq, (rates / rates.sum()).double(), atol=0.01, rtol=0)
    assert wait.mean().item() == pytest.approx(1 / 4.0, rel=0.03)
    again, _ = sample_next_event(log_rates, torch.Generator().manual_seed(1))
    assert torch.equal(code, again)


# ---------------------------------------------------------------- the encoder


def test_an_event_cannot_see_later_events():
    enc = _encoder().eval()
    a = _batch([[2, 3, 4, 5]], [[30.0, 40.0, 50.0, 60.0]])
    b = _batch([[2, 3, 7, 6]], [[30.0, 40.0, 45.5, 80.0]])  # the last two events changed
    model = EventHistoryModel(enc, 8, [PAD])
    with torch.no_grad():
        sa, sb = enc.event_states(a), enc.event_states(b)
        ra, rb = model.log_rates(a), model.log_rates(b)
    assert torch.equal(sa[:, :2], sb[:, :2]) and torch.equal(ra[:, :2], rb[:, :2])
    assert not torch.allclose(sa[:, 2:], sb[:, 2:])


def test_the_age_encoding_reads_ages_not_positions():
    enc = _encoder().eval()
    shifted = _batch([[5, 3, 4], [3, 4, 0]], [[20.0, 40.0, 50.0], [40.0, 50.0, 0.0]])
    with torch.no_grad():
        h = enc.embed_events(shifted)
        # the same event at the same age embeds the same at position 1 and at position 0
        torch.testing.assert_close(h[0, 1], h[1, 0])
        torch.testing.assert_close(h[0, 2], h[1, 1])
        older = enc.embed_events(_batch([[3]], [[41.0]]))
    assert not torch.allclose(older[0, 0], h[1, 0])
    age = AgeEncoding(16)
    x = torch.tensor([[40.0, 40.0, 70.0]])
    out = age(x)
    torch.testing.assert_close(out[0, 0], out[0, 1])
    assert not torch.allclose(out[0, 0], out[0, 2])


def test_transitions_mark_censoring_and_padding():
    x = _batch([[2, 3, 6, 0], [2, 4, 0, 0]], [[30.0, 35.0, 85.0, 0.0], [40.0, 41.5, 0.0, 0.0]])
    t = transitions(x, silent=[6])
    assert t.valid.tolist() == [[True, True, False], [True, False, False]]
    assert t.observed.tolist() == [[True, False, False], [True, False, False]]
    torch.testing.assert_close(t.dt[0, :2], torch.tensor([5.0, 50.0]))


def test_no_event_tokens_fall_on_multiples_between_the_first_and_last_events():
    h = History(np.array([31.0, 40.0, 52.5]), np.array(["A", "B", "C"], object), np.zeros(0))
    out = with_no_events(h, 5.0)
    assert out.ages.tolist() == [31.0, 35.0, 40.0, 45.0, 50.0, 52.5]  # none where B is
    assert out.codes.tolist() == ["A", NO_EVENT, "B", NO_EVENT, NO_EVENT, "C"]
    assert with_no_events(h, None) is h


def test_a_model_needs_an_event_encoder():
    with pytest.raises(BiozooError, match="no state per event"):
        EventHistoryModel(torch.nn.Linear(3, 3), 8, [PAD])


# ---------------------------------------------------------------- sampling


@pytest.fixture(scope="module")
def fitted():
    sim = simulate_life_events(60, seed=0)
    hist = {}
    for pid, g in sim.events.groupby("patient", sort=False):
        cov = np.array([float(g.sex.iloc[0])])
        hist[pid] = History(g.age.to_numpy(float), g.code.to_numpy(object), cov)
    records = np.array([with_no_events(h, 5.0) for h in hist.values()], dtype=object)
    mod = RecordModality("ev", "events", records, np.ones(len(records), bool), "sim")
    part = EventTokens(covariates=["sex"]).fit(mod)
    torch.manual_seed(0)
    silent = [part.index()[c] for c in ("END", NO_EVENT)]
    model = EventHistoryModel(
        DelphiEncoder(part.input, dropout=0.0), len(part.token_names()), [PAD, *silent]
    ).eval()
    return model, part, list(hist.values())


def test_sampling_is_seeded_and_respects_the_ages(fitted):
    model, part, hists = fitted
    h = hists[0]
    start = float(h.ages[1])
    kw = dict(start_ages=[start], max_age=75.0, terminal=["DEATH"], n=20)
    a = sample_trajectories(model, part, [h], seed=3, **kw)
    b = sample_trajectories(model, part, [h], seed=3, **kw)
    c = sample_trajectories(model, part, [h], seed=4, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert len(a) and (a.age > start).all() and (a.age <= 75.0).all()
    for _, traj in a.groupby("trajectory"):
        assert traj.age.is_monotonic_increasing
        deaths = np.flatnonzero(traj.code.to_numpy() == "DEATH")
        assert len(deaths) == 0 or deaths[0] == len(traj) - 1  # nothing after death


def test_sampling_with_no_event_tokens_never_shows_them(fitted):
    model, part, hists = fitted
    kw = dict(start_ages=[float(hists[1].ages[0])], max_age=80.0, terminal=["DEATH"], n=10)
    out = sample_trajectories(model, part, hists[1:2], no_event_every=5.0, seed=0, **kw)
    assert len(out) and NO_EVENT not in set(out.code) and (out.age <= 80.0).all()


def test_sampling_from_several_histories_keeps_them_apart(fitted):
    model, part, hists = fitted
    starts = [float(h.ages[0]) for h in hists[:3]]
    out = sample_trajectories(
        model, part, hists[:3], start_ages=starts, max_age=90.0, terminal=["DEATH"], n=2
    )
    assert set(out.history) <= {0, 1, 2} and set(out.trajectory) <= {0, 1}
    for k, start in enumerate(starts):
        assert (out.age[out.history == k] > start).all()
    with pytest.raises(BiozooError, match="has none"):
        sample_trajectories(model, part, hists[:1], start_ages=[1.0], max_age=90.0, terminal=[])


# ---------------------------------------------------------------- baseline and protocol


def test_the_incidence_baseline_recovers_rates_by_band_and_sex():
    rng = np.random.default_rng(0)
    n = 20_000
    sex = rng.integers(0, 2, n)
    start = rng.uniform(0, 4.0, n)
    rate = np.where(sex == 1, 0.5, 0.1)
    dt = np.minimum(rng.exponential(1 / rate), 4.9 - start)  # follow-up ends at 4.9
    observed = start + dt < 4.9
    code = np.full(n, 2)
    base = AgeSexIncidence(3, [0], band_years=5.0).fit(start, dt, code, observed, sex)
    got = np.exp(base.log_rates(np.array([1.0, 1.0]), np.array([0, 1])))[:, 2]
    np.testing.assert_allclose(got, [0.1, 0.5], rtol=0.05)
    assert np.isneginf(base.log_rates(np.array([1.0]), np.array([0]))[0, 0])


def _cohort_config(tmp_path, n, epochs, seed=0, lr=1e-3):
    sim = simulate_life_events(n, seed=seed)
    events = sim.events.copy()
    events.loc[events.index[-1], "code"] = "RARE"  # a code of one patient only
    path = tmp_path / "events.csv"
    events.to_csv(path, index=False)
    data = EventsConfig(path=path, events={"covariates": ["sex"]})
    training = {"epochs": epochs, "seed": seed, "lr": lr}
    return LifeEventsConfig(data=data, training=training), events


def test_the_protocol_splits_patients_and_scores_both_methods(tmp_path):
    cfg, events = _cohort_config(tmp_path, 120, epochs=2)
    res = run_life_events(cfg)
    assert set(res.patients["train"]).isdisjoint(res.patients["test"])
    train_codes = set(events[events.patient.isin(res.patients["train"])].code) | {NO_EVENT}
    assert set(res.part.token_names()[2:]) == train_codes  # vocabulary from training patients
    methods = ["delphi", "age_sex_incidence", "next_code_logistic", "aalen_johansen"]
    assert list(res.metrics.method) == methods
    m = res.metrics.set_index("method")
    assert np.isfinite(m.nll_per_event[:2]).all() and m.nll_per_event[2:].isna().all()
    assert np.isfinite(m.auc_macro[:3]).all()  # the logistic is scored on the same transitions
    assert set(res.auc.method) == set(methods[:3])
    assert np.isfinite(m.incidence_mean_abs_error[["delphi", "aalen_johansen"]]).all()
    inc = res.incidence
    assert list(inc.columns) == ["code", "age", "observed", "delphi", "aalen_johansen"]
    assert "ENTRY" not in set(inc.code) and {"I10", "DEATH"} <= set(inc.code)
    assert inc[["observed", "delphi", "aalen_johansen"]].stack().between(0, 1).all()
    assert {"code", "age_band", "sex", "auc"} <= set(res.auc.columns)
    rare_in_test = events.patient.iloc[-1] in res.patients["test"]
    assert (res.test_unknown_events > 0) == rare_in_test


def test_the_fitted_model_recovers_the_known_hazards(tmp_path):
    cfg, _ = _cohort_config(tmp_path, 700, epochs=25, lr=3e-3)
    res = run_life_events(cfg)
    delphi, base = res.metrics.set_index("method").loc[["delphi", "age_sex_incidence"]].itertuples()
    assert delphi.nll_per_event < base.nll_per_event
    # a planted effect: diabetes quadruples myocardial infarction (F32 changes nothing)
    log_ratios = []
    for sex in (0.0, 1.0):
        for age in (50.0, 60.0, 70.0):
            pair = [
                History(np.array([age - 10, age]), np.array([ENTRY, last], object), np.array([sex]))
                for last in ("E11", "F32")
            ]
            i21 = rates_after(res.model, res.part, pair, no_event_every=5.0)["I21"].to_numpy()
            log_ratios.append(np.log(i21[0] / i21[1]))
    assert 2.0 < np.exp(np.mean(log_ratios)) < 8.0  # true: 4
    # rates after a few held-out histories against the true ones
    ages = [45.0, 55.0, 65.0, 72.0]
    probes = [
        History(np.array([a - 5, a]), np.array([ENTRY, c], object), np.array([s]))
        for a in ages
        for c in ("I10", "E11", "F32")
        for s in (0.0, 1.0)
    ]
    rates = rates_after(res.model, res.part, probes, no_event_every=5.0)
    got = np.log(rates[list(CODES)].to_numpy())
    truth = np.array([true_log_rates(h.ages[-1], int(h.covariates[0]), h.codes) for h in probes])
    ok = np.isfinite(truth)
    assert np.corrcoef(got[ok], truth[ok])[0, 1] > 0.6


def test_a_config_error_names_the_key(tmp_path):
    path = tmp_path / "life.yaml"
    path.write_text("data: {dataset: life_events}\ntraining: {epoch: 3}\n")
    with pytest.raises(BiozooError, match=r"^training\.epoch in .*life\.yaml: unknown key\.$"):
        load_life_events_config(path)
    assert math.isclose(load_life_events_config(_example()).training.lr, 3e-3)


def _example():
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "examples" / "life_events.yaml"
