"""Survival: a time column and an event column; a Cox head; C-index, Brier score and AUC.

Config: ``target: {path: y.csv, time: time, event: event, task: survival}`` (``ties`` is
``efron`` by default, or ``breslow``). The target is a float64 array ``[n, 2]`` holding the
follow-up time and the event indicator (1 = event, 0 = censored). Splits are stratified by
event. A prediction is a risk score (log-hazard ratio; higher = earlier event).

Metrics (scikit-survival), on each held-out part:

* ``c_index``: Harrell's concordance (the leaderboard's primary metric);
* ``uno_c_index``: Uno's IPCW concordance, truncated at the end of the time grid;
* ``ibs``: integrated Brier score of the survival curves (lower is better);
* ``td_auc``: mean time-dependent (cumulative/dynamic) AUC over the grid.

The last three use the training part (its censoring distribution, and the Breslow baseline
hazard of the method's training risk scores) and a grid of ``GRID_POINTS`` event times of the
held-out part between its 10th and 80th percentile of follow-up (and within the training
part's follow-up); they are NaN when the grid is empty.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from torch import nn

from biozoo.errors import BiozooError
from biozoo.tasks.base import (
    BaselineModel,
    EncodedTarget,
    RankingTarget,
    Reference,
    TargetOptions,
    Task,
    register_task,
)
from biozoo.tasks.cox import BreslowBaseline, CoxHead
from biozoo.tasks.survival_estimators import fit_survival_estimator, structured

__all__ = ["HORIZONS", "SurvivalOptions", "SurvivalTask", "time_grid"]

GRID_POINTS = 10
HORIZONS = (25, 50, 75)
"""Percentiles of the training event times at which survival probabilities are reported."""


class SurvivalOptions(TargetOptions):
    """``time`` and ``event`` columns; ``ties`` of the Cox partial likelihood."""

    time: str
    event: str
    ties: Literal["efron", "breslow"] = "efron"

    def columns(self) -> list[str]:
        return [self.time, self.event]


@register_task
class SurvivalTask(Task):
    """Right-censored time to event, with a Cox proportional-hazards head."""

    name = "survival"
    Options = SurvivalOptions
    metric_names = ("c_index", "uno_c_index", "ibs", "td_auc")
    primary = "c_index"
    shown_metrics = ("c_index", "ibs")
    higher_is_better = {"c_index": True, "uno_c_index": True, "ibs": False, "td_auc": True}
    needs_reference = True
    baseline_labels: ClassVar[dict[str, str]] = {
        "linear": "penalised cox (CV)",
        "random_forest": "random survival forest",
        "gradient_boosting": "gradient boosting (cox)",
    }

    def __init__(self, ties: Literal["efron", "breslow"] = "efron") -> None:
        self.ties = ties

    def __repr__(self) -> str:
        return f"SurvivalTask(ties={self.ties!r})"

    @classmethod
    def from_options(cls, options: TargetOptions) -> SurvivalTask:
        assert isinstance(options, SurvivalOptions)
        return cls(options.ties)

    def encode_target(
        self, labels: pd.DataFrame, options: TargetOptions, source: str
    ) -> EncodedTarget:
        time_col, event_col = options.columns()
        time = _times(labels[time_col], time_col, source)
        event = _events(labels[event_col], event_col, source)
        if not event.any():
            raise BiozooError(
                f"event column {event_col!r} of {source} holds no event (every sample is "
                f"censored); survival needs at least one."
            )
        return EncodedTarget(np.stack([time, event], axis=1))

    def n_outputs(self, n_classes: int | None) -> int:
        return 1

    def head(self, n_classes: int | None) -> nn.Module:
        return CoxHead(self.ties)

    def explained(self, classes: list[str]) -> str:
        return "the risk score (log-hazard ratio)"

    def stratify_labels(self, target: np.ndarray) -> np.ndarray | None:
        return (np.asarray(target)[:, 1] > 0.5).astype(np.int64)

    def ranking_target(self, target: np.ndarray) -> RankingTarget:
        """Martingale residuals of the model without covariates (event minus Nelson–Aalen
        cumulative hazard at the sample's time): ``|r|`` with them is a univariate screen."""
        time, event = np.asarray(target, np.float64).T
        hazard = BreslowBaseline().fit(np.zeros(len(time)), time, event > 0.5)
        residual = event - hazard.cumulative_hazard(time)
        return RankingTarget(residual - residual.mean(), grouped=False)

    def metrics(
        self,
        y_true: np.ndarray,
        prediction: np.ndarray,
        *,
        n_classes: int | None = None,
        reference: Reference | None = None,
    ) -> dict[str, float]:
        test = structured(y_true)
        risk = _risk(prediction, len(test))
        out = dict.fromkeys(self.metric_names, float("nan"))
        if test["event"].any():
            out["c_index"] = float(concordance_index_censored(test["event"], test["time"], risk)[0])
        if reference is None:
            return out
        train = structured(reference.target)
        grid = time_grid(train, test)
        if len(grid) == 0:
            return out
        out["uno_c_index"] = float(concordance_index_ipcw(train, test, risk, tau=grid[-1])[0])
        baseline = BreslowBaseline().fit(reference.prediction, train["time"], train["event"])
        surv = baseline.survival(risk, grid)
        within = _within_follow_up(test, train)
        if len(grid) >= 2:
            out["ibs"] = float(integrated_brier_score(train, within, surv, grid))
        out["td_auc"] = float(cumulative_dynamic_auc(train, within, risk, grid)[1])
        return out

    def prediction_columns(
        self,
        y_true: np.ndarray | None,
        prediction: np.ndarray,
        *,
        classes: list[str] | None = None,
        reference: Reference | None = None,
    ) -> dict[str, np.ndarray]:
        """``time`` and ``event`` (when known), ``risk``, and with a reference the survival
        probability ``surv_q<k>`` at the ``k``-th percentile ``t_q<k>`` of the training event
        times (Breslow baseline hazard of the training risk scores)."""
        columns: dict[str, np.ndarray] = {}
        if y_true is not None:
            columns["time"] = np.asarray(y_true)[:, 0]
            columns["event"] = np.asarray(y_true)[:, 1].astype(np.int64)
        risk = _risk(prediction, len(prediction))
        columns["risk"] = risk
        if reference is not None:
            train = structured(reference.target)
            times = np.percentile(train["time"][train["event"]], HORIZONS)
            surv = BreslowBaseline().fit(reference.prediction, train["time"], train["event"])
            probs = surv.survival(risk, times)
            for k, (q, t) in enumerate(zip(HORIZONS, times, strict=True)):
                columns[f"t_q{q}"] = np.full(len(risk), t)
                columns[f"surv_q{q}"] = probs[:, k]
        return columns

    def baseline(
        self,
        family: str,
        X: np.ndarray,
        y: np.ndarray,
        *,
        n_classes: int | None = None,
        seed: int = 0,
        n_jobs: int = 1,
    ) -> BaselineModel:
        self.baseline_label(family)
        return fit_survival_estimator(family, X, y, seed=seed, n_jobs=n_jobs)


def time_grid(train: np.ndarray, test: np.ndarray, points: int = GRID_POINTS) -> np.ndarray:
    """Event times of ``test`` between its 10th and 80th percentile of follow-up, inside the
    training follow-up, thinned to at most ``points`` (structured survival arrays)."""
    lo, hi = np.percentile(test["time"], [10, 80])
    hi = min(hi, train["time"].max())
    lo = max(lo, test["time"].min(), train["time"].min())
    times = np.unique(test["time"][test["event"] & (test["time"] >= lo) & (test["time"] < hi)])
    if len(times) > points:
        times = np.unique(np.quantile(times, np.linspace(0, 1, points), method="nearest"))
    return times


def _within_follow_up(test: np.ndarray, train: np.ndarray) -> np.ndarray:
    """``test`` with its events after the training follow-up counted as censored there.

    The censoring distribution (from the training part) may be 0 past its last time, where
    no inverse-probability weight exists; every grid time lies before it, and a sample
    followed past a grid time counts the same whether its later event is seen or not.
    """
    out = test.copy()
    out["event"] &= out["time"] < train["time"].max()
    return out


def _risk(prediction: np.ndarray, n: int) -> np.ndarray:
    risk = np.asarray(prediction, dtype=np.float64).reshape(-1)
    if risk.shape != (n,) or not np.isfinite(risk).all():
        raise ValueError(f"survival predictions must be {n} finite risk scores")
    return risk


def _times(values: pd.Series, column: str, source: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        raise BiozooError(
            f"time column {column!r} of {source} must be numeric, but sample "
            f"{values.index[bad.to_numpy()][0]!r} has {_shown(values[bad].iloc[0])!r}."
        )
    if numbers.isna().any():
        raise BiozooError(
            f"time column {column!r} of {source} has no time for sample "
            f"{values.index[numbers.isna().to_numpy()][0]!r}."
        )
    time = numbers.to_numpy(dtype=np.float64)
    if (time < 0).any():
        i = int(np.flatnonzero(time < 0)[0])
        raise BiozooError(
            f"time column {column!r} of {source} has a negative time ({time[i]:g}) for "
            f"sample {values.index[i]!r}."
        )
    return time


_EVENT_WORDS = {"true": 1.0, "false": 0.0}


def _events(values: pd.Series, column: str, source: str) -> np.ndarray:
    raw = values.map(lambda v: _EVENT_WORDS.get(v.strip().lower(), v) if isinstance(v, str) else v)
    numbers = pd.to_numeric(raw.astype(object), errors="coerce").astype(np.float64)
    bad = ~numbers.isin([0.0, 1.0])
    if bad.any():
        raise BiozooError(
            f"event column {column!r} of {source} must hold 0/1 (or False/True), but sample "
            f"{values.index[bad.to_numpy()][0]!r} has {_shown(values[bad].iloc[0])!r}."
        )
    return numbers.to_numpy(dtype=np.float64)


def _shown(value: object) -> object:
    """A numpy scalar as the plain Python value it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value
