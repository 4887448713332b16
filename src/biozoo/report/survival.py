"""Kaplan–Meier curves of predicted risk groups on held-out samples, with the log-rank test.

Each held-out sample of ``predictions.csv`` (columns ``time``, ``event``, ``risk``, ``split``,
``method``) is put in a risk group by the quantiles of its *own split's* held-out risk
scores (low / high for two groups; low / middle / high for three), so that no sample's group
depends on a model that saw it. The groups of every split are then pooled, their Kaplan–Meier
curves drawn (``sksurv.nonparametric.kaplan_meier_estimator``) and compared by the log-rank
test (``sksurv.compare.compare_survival``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sksurv.compare import compare_survival
from sksurv.nonparametric import kaplan_meier_estimator

from biozoo.report.plots import COLOURS

__all__ = ["RiskGroups", "km_figure", "risk_groups"]

_NAMES = {2: ("low risk", "high risk"), 3: ("low risk", "middle", "high risk")}


@dataclass
class RiskGroups:
    """Kaplan–Meier curves of the risk groups of one method.

    Attributes:
        names: group names, lowest risk first.
        group: each sample's group index ``[n]``.
        curves: per group, the times and survival probabilities of its KM curve.
        p_value: log-rank p-value of the difference between the groups (NaN when fewer
            than two groups hold samples).
    """

    names: tuple[str, ...]
    group: np.ndarray
    curves: list[tuple[np.ndarray, np.ndarray]]
    p_value: float


def risk_groups(rows: pd.DataFrame, n_groups: int = 2) -> RiskGroups:
    """Risk groups of one method's held-out predictions, their KM curves and log-rank p.

    Args:
        rows: ``time``, ``event``, ``risk`` and ``split`` of one method's predictions.
        n_groups: 2 (split at the median) or 3 (at the tertiles).

    Returns:
        The groups, in the order of ``rows``.
    """
    if n_groups not in _NAMES:
        raise ValueError(f"n_groups must be 2 or 3, got {n_groups}")
    group = np.zeros(len(rows), dtype=np.int64)
    risk = rows["risk"].to_numpy(dtype=np.float64)
    for split in pd.unique(rows["split"]):
        sel = (rows["split"] == split).to_numpy()
        cuts = np.quantile(risk[sel], np.linspace(0, 1, n_groups + 1)[1:-1])
        group[sel] = np.searchsorted(cuts, risk[sel], side="right")
    time = rows["time"].to_numpy(dtype=np.float64)
    event = rows["event"].to_numpy(dtype=np.float64) > 0.5
    curves = []
    for g in range(n_groups):
        sel = group == g
        curves.append(kaplan_meier_estimator(event[sel], time[sel]) if sel.any() else _empty())
    p_value = float("nan")
    if len(np.unique(group)) > 1:
        y = np.empty(len(rows), dtype=[("event", bool), ("time", np.float64)])
        y["event"], y["time"] = event, time
        p_value = float(compare_survival(y, group)[1])
    return RiskGroups(_NAMES[n_groups], group, curves, p_value)


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0), np.zeros(0)


def km_figure(preds: pd.DataFrame, methods: list[str], n_groups: int = 2) -> Figure:
    """One panel per method: KM curves of its predicted risk groups, log-rank p in the title.

    Args:
        preds: ``predictions.csv`` of a survival run.
        methods: methods to draw, in order (those without predictions are skipped).
        n_groups: 2 or 3 risk groups.

    Returns:
        The figure.
    """
    shown = [m for m in methods if (preds["method"] == m).any()]
    cols = min(3, max(1, len(shown)))
    rows_n = max(1, -(-len(shown) // cols))
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows_n), layout="constrained")
    axes = fig.subplots(rows_n, cols, squeeze=False).ravel()
    for ax, method in zip(axes, shown, strict=False):
        groups = risk_groups(preds[preds["method"] == method], n_groups)
        for g, (name, (t, s)) in enumerate(zip(groups.names, groups.curves, strict=True)):
            n = int(np.sum(groups.group == g))
            ax.step(t, s, where="post", color=COLOURS[g], label=f"{name} (n={n})")
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("time")
        ax.set_ylabel("survival probability")
        ax.set_title(f"{method}\nlog-rank p = {_p(groups.p_value)}", fontsize=9)
        ax.legend(fontsize=7, loc="lower left", frameon=False)
    for ax in axes[len(shown) :]:
        ax.set_axis_off()
    return fig


def _p(p: float) -> str:
    if np.isnan(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"
