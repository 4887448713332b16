"""Metrics of a life-event model on held-out patients' transitions.

- :func:`mean_nll`: negative log-likelihood of the held-out histories (competing
  exponentials; censored and no-event intervals included) per event, the primary metric.
- :func:`next_event_auc`: per code, the ROC AUC of the predicted next-event probability
  (softmax of the log-rates) for "the next event is this code", over the observed
  transitions, overall and within each age band x sex stratum, as Delphi-2M reports it
  (Shmatko et al. 2025, https://doi.org/10.1038/s41586-025-09529-3).
- a method that predicts only the next code (no rates, e.g. the per-code logistic baseline)
  gives its probabilities in :attr:`Scored.next_prob`: it gets the AUCs, and NaN for the
  likelihood and the calibration.
- :func:`waiting_time_calibration`: transitions binned by deciles of the predicted total rate
  ``R``; per bin, the predicted mean waiting time (mean ``1 / R``) against the observed one
  (person-years over events, the exponential estimate that counts censored time), and the
  observed number of events against the expected one, ``sum R dt`` (the compensator: equal
  in expectation when the rates are right, censoring or not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import log_softmax, logsumexp
from sklearn.metrics import roc_auc_score

__all__ = ["Scored", "mean_nll", "next_event_auc", "waiting_time_calibration"]


@dataclass(frozen=True)
class Scored:
    """A method's log-rates at each held-out transition, with what happened.

    Attributes:
        log_rates: ``[m, V]``, or None for a method without rates.
        age: ``[m]`` age at the event the prediction is made from.
        sex: ``[m]`` 0/1, or None without a sex covariate.
        code: ``[m]`` next token id; dt: ``[m]`` waiting time; observed: ``[m]`` bool.
        next_prob: ``[m, V]`` probability of each code being the next event, for a method
            that gives it directly (else the softmax of the log-rates is used).
    """

    log_rates: np.ndarray | None
    age: np.ndarray
    sex: np.ndarray | None
    code: np.ndarray
    dt: np.ndarray
    observed: np.ndarray
    next_prob: np.ndarray | None = None

    def next_scores(self) -> np.ndarray:
        """Per observed transition, each code's score for being the next event ``[k, V]``
        (the probability, or its log: the AUCs need only the order)."""
        if self.next_prob is not None:
            return self.next_prob[self.observed]
        assert self.log_rates is not None, "a Scored needs log_rates or next_prob"
        return log_softmax(self.log_rates[self.observed], axis=1)


def mean_nll(s: Scored) -> float:
    """Negative log-likelihood per event: ``-sum(log rate_code [observed] - R dt) / events``
    (silent transitions add their ``R dt`` but do not count as events); NaN without rates."""
    if s.log_rates is None:
        return float("nan")
    total = np.exp(logsumexp(s.log_rates, axis=1))
    term = np.where(s.observed, np.take_along_axis(s.log_rates, s.code[:, None], 1)[:, 0], 0.0)
    return float(-(term - total * s.dt).sum() / max(int(s.observed.sum()), 1))


def _auc(label: np.ndarray, score: np.ndarray, min_cases: int) -> float:
    k = int(label.sum())
    if k < min_cases or k == len(label):
        return float("nan")
    return float(roc_auc_score(label, score))


def next_event_auc(
    s: Scored, vocab: list[str], codes: list[int], bands: list[float], *, min_cases: int = 5
) -> pd.DataFrame:
    """Per code: ROC AUC overall (``age_band`` and ``sex`` ``all``) and per age band x sex.

    Args:
        s: the scored transitions.
        vocab: token names.
        codes: the token ids to score.
        bands: inner edges of the age bands (e.g. ``[50, 60, 70]``: <50, 50-60, 60-70, 70+).
        min_cases: fewest next events of the code for an AUC (else NaN).

    Returns:
        Columns ``code, age_band, sex, n, cases, auc``.
    """
    obs = s.observed
    prob = s.next_scores()
    age, nxt = s.age[obs], s.code[obs]
    sex = s.sex[obs] if s.sex is not None else np.zeros(len(age), dtype=np.int64)
    edges = [-np.inf, *bands, np.inf]
    names = [_band_name(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    band = np.digitize(age, bands)
    rows = []
    for c in codes:
        label = nxt == c
        rows.append(
            (
                vocab[c],
                "all",
                "all",
                len(label),
                int(label.sum()),
                _auc(label, prob[:, c], min_cases),
            )
        )
        for b, bname in enumerate(names):
            for sx in np.unique(sex):
                pick = (band == b) & (sex == sx)
                lab = label[pick]
                sx_name = str(int(sx)) if s.sex is not None else "all"
                auc = _auc(lab, prob[pick, c], min_cases)
                rows.append((vocab[c], bname, sx_name, int(pick.sum()), int(lab.sum()), auc))
    return pd.DataFrame(rows, columns=["code", "age_band", "sex", "n", "cases", "auc"])


def _band_name(lo: float, hi: float) -> str:
    if np.isinf(lo):
        return f"<{hi:g}"
    return f"{lo:g}+" if np.isinf(hi) else f"{lo:g}-{hi:g}"


def waiting_time_calibration(s: Scored, bins: int = 10) -> pd.DataFrame:
    """Predicted vs observed mean waiting time by decile of the predicted total rate.

    Returns:
        Columns ``bin, n, events, expected_events, predicted_rate, observed_rate,
        predicted_wait, observed_wait`` (rates per year, waits in years; observed rate:
        events / person-years); no rows for a method without rates.
    """
    cols = ["bin", "n", "events", "expected_events", "predicted_rate", "observed_rate"]
    cols += ["predicted_wait", "observed_wait"]
    if s.log_rates is None:
        return pd.DataFrame(columns=cols)
    rate = np.exp(logsumexp(s.log_rates, axis=1))
    edges = np.quantile(rate, np.linspace(0, 1, bins + 1)[1:-1])
    which = np.digitize(rate, edges)
    rows = []
    for b in range(bins):
        pick = which == b
        if not pick.any():
            continue
        events, years = int(s.observed[pick].sum()), float(s.dt[pick].sum())
        observed = events / years if years > 0 else float("nan")
        rows.append(
            (
                b + 1,
                int(pick.sum()),
                events,
                float((rate[pick] * s.dt[pick]).sum()),
                float(rate[pick].mean()),
                observed,
                float((1 / rate[pick]).mean()),
                years / events if events else float("nan"),
            )
        )
    return pd.DataFrame(rows, columns=cols)
