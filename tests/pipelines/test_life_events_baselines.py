"""The life-event baselines: Aalen–Johansen incidence against a hand computation, and the
per-code logistic regression on counts of earlier codes (causal, and it finds a planted
effect)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from biozoo.data.cohort import RecordModality
from biozoo.data.events import EventTokens, History
from biozoo.data.sources.life_events import simulate_life_events
from biozoo.pipelines.life_events import (
    AalenJohansenIncidence,
    NextCodeLogistic,
    cumulative_incidence,
    incidence_table,
    transition_features,
    transitions,
)


def _h(ages, codes):
    return History(np.array(ages, float), np.array(codes, object), np.zeros(0))


# ---------------------------------------------------------------- Aalen–Johansen


def test_aalen_johansen_equals_the_hand_computation():
    # entry at the first event; C = the code of interest, D = death (competing), END = censoring
    cohort = [
        _h([0, 2], ["S", "C"]),  # C at 2
        _h([0, 1], ["S", "D"]),  # dies at 1, before any C
        _h([0, 1.2, 3], ["S", "X", "END"]),  # X does not compete; censored at 3
        _h([0, 4, 4.5], ["S", "C", "D"]),  # C at 4 (death after C does not matter)
        _h([1.5, 2.5], ["S", "END"]),  # enters late (at 1.5), censored at 2.5
        _h([0, 0.5], ["C", "END"]),  # has C from the start: never at risk
    ]
    # t=1: at risk the first four (the fifth enters later, the sixth never is); 1 death:
    #      S = 3/4, F = 0
    # t=2: at risk the first, third, fourth and fifth; 1 C: F = 3/4 * 1/4, S = 3/4 * 3/4
    # t=4: only the fourth at risk, C: F = 3/16 + 9/16 * 1 = 3/4
    got = incidence_table(cohort, ["C", "D"], ["D"], [0.5, 1.0, 2.0, 3.9, 4.0, 9.0])
    c = got[got.code == "C"].incidence.to_numpy()
    np.testing.assert_allclose(c, [0, 0, 3 / 16, 3 / 16, 3 / 4, 3 / 4])
    # death's own incidence: C does not compete with it (1 - Kaplan-Meier with late entry);
    # the sixth is followed from 0 to 0.5. t=1: 4 at risk, 1 death: F = 1/4;
    # t=4.5: only the fourth at risk, dies: F = 1/4 + 3/4 * 1 = 1
    d = got[got.code == "D"].incidence.to_numpy()
    np.testing.assert_allclose(d, [0, 1 / 4, 1 / 4, 1 / 4, 1 / 4, 1])


def test_without_truncation_or_competition_it_is_one_minus_kaplan_meier():
    entry = np.zeros(5)
    exit = np.array([1.0, 2.0, 2.0, 3.0, 5.0])
    cause = np.array([1, 0, 1, 1, 0])
    # KM: t=1 4/5; t=2 (4 at risk, 1 event) 3/4; t=3 (2 at risk) 1/2 -> S = 0.3
    got = cumulative_incidence(entry, exit, cause, np.array([0.5, 1, 2, 3, 10]))
    np.testing.assert_allclose(got, [0, 0.2, 0.4, 0.7, 0.7])


def test_the_fitted_incidence_is_the_training_patients_curve():
    train = [_h([0, 1], ["S", "C"]), _h([0, 2], ["S", "END"])]
    aj = AalenJohansenIncidence(["C"], ["D"]).fit(train)
    assert aj.incidence([1.0]).incidence.tolist() == [0.5]
    with pytest.raises(RuntimeError, match="not fitted"):
        AalenJohansenIncidence(["C"], ["D"]).incidence([1.0])


def test_events_after_the_end_of_follow_up_are_not_seen():
    h = [_h([0, 3], ["S", "C"])]
    assert incidence_table(h, ["C"], [], [5.0], ends=np.array([2.0])).incidence.tolist() == [0]
    assert incidence_table(h, ["C"], [], [5.0]).incidence.tolist() == [1.0]


# ---------------------------------------------------------------- per-code logistic


def _encoded(n: int, seed: int):
    sim = simulate_life_events(n, seed=seed)
    hist = [
        History(g.age.to_numpy(float), g.code.to_numpy(object), np.array([float(g.sex.iloc[0])]))
        for _, g in sim.events.groupby("patient", sort=False)
    ]
    mod = RecordModality("ev", "events", np.array(hist, object), np.ones(len(hist), bool), "sim")
    return hist, mod


def _flat(x, silent, vocab):
    t = transitions(x, silent)
    valid = t.valid.numpy()
    feats = transition_features(x, silent, vocab)
    return feats, t.code.numpy()[valid], t.observed.numpy()[valid]


def test_the_features_count_only_earlier_codes():
    hist, mod = _encoded(20, seed=0)
    part = EventTokens(covariates=["sex"]).fit(mod)
    vocab, index = len(part.token_names()), part.index()
    a = _h([40, 50, 60, 70], ["ENTRY", "E11", "I10", "DEATH"])
    b = _h([40, 50, 61, 62], ["ENTRY", "E11", "I21", "N18"])  # the future differs
    x = part.encode([History(a.ages, a.codes, np.zeros(1)), History(b.ages, b.codes, np.zeros(1))])
    feats = transition_features(x, [], vocab)  # 3 transitions each
    assert feats.shape == (6, vocab + 2 + 1)
    np.testing.assert_array_equal(feats[:2], feats[3:5])  # same past, same features
    assert feats[1, index["E11"]] == 1 and feats[1, index["ENTRY"]] == 1
    assert feats[1, index["I10"]] == 0 and feats[1, vocab] == 50  # age of the current event


def test_the_logistic_baseline_finds_a_planted_effect_of_an_earlier_code():
    hist, mod = _encoded(900, seed=1)
    part = EventTokens(covariates=["sex"]).fit(mod)
    index, vocab = part.index(), len(part.token_names())
    silent = [index["END"]]
    train, test = np.arange(0, 700), np.arange(700, 900)
    ft, ct, ot = _flat(part.encode([hist[i] for i in train]), silent, vocab)
    codes = [index[c] for c in ("I21", "N18", "I63", "F32")]
    model = NextCodeLogistic(vocab, codes).fit(ft[ot], ct[ot])
    fs, cs, os_ = _flat(part.encode([hist[i] for i in test]), silent, vocab)
    prob = model.predict_proba(fs[os_])
    # diabetes multiplies the rate of kidney disease by 5: the held-out AUC beats chance
    assert roc_auc_score(cs[os_] == index["N18"], prob[:, index["N18"]]) > 0.6
    # and the same history ending in diabetes rather than depression raises its probability
    pair = [
        History(np.array([50.0, 60.0, 61.0]), np.array(["ENTRY", last, "F32"], object), np.ones(1))
        for last in ("E11", "F32")
    ]
    f = transition_features(part.encode(pair), silent, vocab)[[1, 3]]  # from the second event
    p = model.predict_proba(f)[:, index["N18"]]
    assert p[0] > 1.5 * p[1]
    assert prob[:, index["ENTRY"]].max() == 0  # a code it does not model scores 0
