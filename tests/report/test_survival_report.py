"""Kaplan–Meier curves of predicted risk groups and their log-rank test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.compare import compare_survival
from sksurv.nonparametric import kaplan_meier_estimator

from biozoo.report.plots import to_svg
from biozoo.report.survival import km_figure, risk_groups


def _preds(n=120, seed=0):
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    t = rng.exponential(np.exp(-1.5 * risk))
    c = rng.exponential(2.0, n)
    return pd.DataFrame(
        {
            "sample_id": [f"S{i}" for i in range(n)],
            "split": np.where(np.arange(n) < n // 2, "r0-f0", "r0-f1"),
            "method": "mlp",
            "time": np.minimum(t, c),
            "event": (t <= c).astype(int),
            "risk": risk,
        }
    )


def test_groups_are_cut_within_each_split_and_match_scikit_survival():
    preds = _preds()
    groups = risk_groups(preds, n_groups=2)
    for split in ("r0-f0", "r0-f1"):
        sel = (preds["split"] == split).to_numpy()
        high = preds["risk"][sel] > np.median(preds["risk"][sel])
        np.testing.assert_array_equal(groups.group[sel], high.astype(int))
    y = np.array(
        list(zip(preds["event"] == 1, preds["time"], strict=True)),
        dtype=[("e", bool), ("t", float)],
    )
    assert groups.p_value == pytest.approx(compare_survival(y, groups.group)[1], rel=1e-12)
    assert groups.p_value < 1e-3  # the risk drives the times
    sel = groups.group == 1
    t, s = kaplan_meier_estimator(y["e"][sel], y["t"][sel])
    np.testing.assert_allclose(groups.curves[1][1], s)
    low_at_1 = groups.curves[0][1][np.searchsorted(groups.curves[0][0], 1.0) - 1]
    high_at_1 = s[np.searchsorted(t, 1.0) - 1]
    assert high_at_1 < low_at_1 - 0.2  # the high-risk group dies sooner


def test_three_groups_and_a_single_group():
    preds = _preds()
    assert set(risk_groups(preds, n_groups=3).group) == {0, 1, 2}
    flat = preds.assign(risk=0.0)
    assert np.isnan(risk_groups(flat).p_value)


def test_figure_has_one_panel_per_method_with_the_p_value():
    preds = pd.concat([_preds(), _preds(seed=1).assign(method="penalised cox (CV)")])
    fig = km_figure(preds, ["mlp", "penalised cox (CV)", "absent"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 2 and all("log-rank p = " in t for t in titles)
    assert "<svg" in to_svg(fig, "km")
