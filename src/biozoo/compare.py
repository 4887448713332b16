"""Paired comparison of methods scored on the same outer splits.

Every method of a run is scored on the same splits, so two methods can be compared split by
split: the paired difference ``d_j = score_a(j) - score_b(j)`` removes the variation that the
splits share (an easy test set is easy for both). The splits' training sets overlap, so the
``d_j`` are not independent and the naive standard error ``sd(d) / sqrt(J)`` is too small.
The corrected resampled t-test of Nadeau & Bengio (2003) inflates the variance for that
overlap:

.. math::

    t = \\frac{\\bar d}{\\sqrt{(1/J + n_{test}/n_{train})\\, s_d^2}}, \\qquad J - 1
    \\text{ degrees of freedom}

with ``s_d^2`` the sample variance (``ddof=1``) of the ``J`` differences. The same correction
serves repeated k-fold cross-validation (Bouckaert & Frank 2004), with ``J = k x repeats`` and
``n_test / n_train = 1 / (k - 1)``. With a handful of splits the interval is wide: that is the
honest amount of split-to-split noise, not a defect of the test.

- :func:`corrected_t` — the interval and t statistic of one pair of methods.
- :func:`wins` — how many splits each of the two methods won.
- :func:`paired_summary` — every deep model against the best baseline, for ``metrics.json``.
- :func:`verdict` — its one line: best deep model vs best baseline.

References: Nadeau & Bengio, "Inference for the generalization error", Machine Learning 52
(2003), https://doi.org/10.1023/A:1024068626366; Bouckaert & Frank, "Evaluating the
replicability of significance tests for comparing learning algorithms", PAKDD 2004.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "PairedDifference",
    "corrected_t",
    "paired_summary",
    "split_scores",
    "verdict",
    "wins",
]

LEVEL = 0.95
"""Coverage of the reported intervals."""


@dataclass(frozen=True)
class PairedDifference:
    """The corrected resampled t interval of a mean paired difference.

    ``low``, ``high``, ``t`` and ``p`` are NaN when there are fewer than two splits; with
    differences that do not vary at all the interval is the single point ``mean``.
    """

    mean: float
    low: float
    high: float
    sd: float
    t: float
    p: float
    dof: int
    n_splits: int
    test_train_ratio: float

    @property
    def outside_noise(self) -> bool:
        """The interval excludes zero (a difference beyond split-to-split noise)."""
        return bool(self.low > 0 or self.high < 0)


def corrected_t(
    diffs: Sequence[float], n_train: Sequence[int], n_test: Sequence[int], *, level: float = LEVEL
) -> PairedDifference:
    """Nadeau–Bengio corrected resampled t interval of the mean of paired differences.

    Args:
        diffs: one difference per split (``J`` values; NaN values are dropped with their split).
        n_train: training samples of each split (the outer training set, validation included).
        n_test: held-out samples of each split.
        level: coverage of the interval.

    Returns:
        The mean difference, its ``level`` interval, sd of the differences, t, the two-sided
        p value, ``J - 1`` and the mean ``n_test / n_train`` used in the correction.

    Raises:
        ValueError: the three sequences differ in length, or a split has no training sample.
    """
    d = np.asarray(diffs, dtype=np.float64)
    tr = np.asarray(n_train, dtype=np.float64)
    te = np.asarray(n_test, dtype=np.float64)
    if not len(d) == len(tr) == len(te):
        raise ValueError(f"{len(d)} differences for {len(tr)} / {len(te)} split sizes")
    if np.any(tr <= 0):
        raise ValueError("every split needs at least one training sample")
    keep = np.isfinite(d)
    d, tr, te = d[keep], tr[keep], te[keep]
    j = len(d)
    ratio = float(np.mean(te / tr)) if j else math.nan
    mean = float(d.mean()) if j else math.nan
    if j < 2:
        return PairedDifference(mean, math.nan, math.nan, math.nan, math.nan, math.nan, 0, j, ratio)
    sd = float(d.std(ddof=1))
    se = math.sqrt((1.0 / j + ratio) * sd**2)
    if se == 0.0:
        t = math.copysign(math.inf, mean) if mean else math.nan
        p = 0.0 if mean else 1.0
        return PairedDifference(mean, mean, mean, sd, t, p, j - 1, j, ratio)
    t = mean / se
    half = float(stats.t.ppf(0.5 + level / 2, j - 1)) * se
    p = float(2 * stats.t.sf(abs(t), j - 1))
    return PairedDifference(mean, mean - half, mean + half, sd, t, p, j - 1, j, ratio)


def wins(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool) -> tuple[int, int, int]:
    """Splits won by ``a``, won by ``b``, and tied (splits where either score is NaN skipped)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    diff = (x - y)[keep] * (1.0 if higher_is_better else -1.0)
    return int(np.sum(diff > 0)), int(np.sum(diff < 0)), int(np.sum(diff == 0))


def split_scores(
    per_split: Mapping[str, Sequence[Mapping[str, float]]], metric: str
) -> dict[str, np.ndarray]:
    """``method -> [J]`` scores of one metric from ``metrics.json["per_split"]`` (NaN: absent)."""
    return {
        m: np.array([_number(row.get(metric)) for row in rows], dtype=np.float64)
        for m, rows in per_split.items()
    }


def paired_summary(
    per_split: Mapping[str, Sequence[Mapping[str, float]]],
    kinds: Mapping[str, str],
    sizes: Sequence[tuple[int, int]],
    *,
    metric: str,
    higher_is_better: bool,
    label: str | None = None,
) -> dict[str, object]:
    """Every deep model against the best baseline on one metric, for ``metrics.json``.

    The best baseline is the one with the best mean score over splits. Differences are
    ``deep - baseline``, so with ``higher_is_better`` a positive difference favours the deep
    model (and a negative one for a metric where lower is better).

    Args:
        per_split: ``method -> one {metric: value} per split``, splits in the order of ``sizes``.
        kinds: ``method -> "deep" | "baseline"``.
        sizes: ``(n_train, n_test)`` of each split.
        metric: the metric compared (the task's primary metric).
        higher_is_better: the metric's direction.
        label: the metric's name in the verdict (default ``metric``).

    Returns:
        ``metric``, ``higher_is_better``, ``level``, ``test``, ``reference`` (the best
        baseline, or None), ``best_deep``, ``comparisons`` (``deep model -> mean, low, high,
        sd, t, p, dof, n_splits, test_train_ratio, outside_noise, wins, losses, ties``, in
        the order of ``per_split``) and ``verdict`` (one line).
    """
    scores = split_scores(per_split, metric)
    n_train = [int(a) for a, _ in sizes]
    n_test = [int(b) for _, b in sizes]
    deep = [m for m in scores if kinds.get(m) == "deep"]
    base = [m for m in scores if kinds.get(m) == "baseline"]
    reference = _best(base, scores, higher_is_better)
    best_deep = _best(deep, scores, higher_is_better)
    comparisons: dict[str, dict[str, object]] = {}
    for m in deep if reference is not None else []:
        d = corrected_t(scores[m] - scores[reference], n_train, n_test)
        won, lost, tied = wins(scores[m], scores[reference], higher_is_better=higher_is_better)
        comparisons[m] = {
            **asdict(d),
            "outside_noise": d.outside_noise,
            "wins": won,
            "losses": lost,
            "ties": tied,
        }
    summary = {
        "metric": metric,
        "higher_is_better": higher_is_better,
        "level": LEVEL,
        "test": "Nadeau-Bengio corrected resampled t (deep - baseline, paired by split)",
        "reference": reference,
        "best_deep": best_deep,
        "comparisons": comparisons,
    }
    summary = _json_safe(summary)
    summary["verdict"] = verdict(summary, label=label or metric)
    return summary


def verdict(summary: Mapping[str, object], *, label: str) -> str:
    """The one-line verdict of a :func:`paired_summary`: best deep model vs best baseline."""
    deep, ref = summary.get("best_deep"), summary.get("reference")
    if deep is None or ref is None:
        missing = "deep model" if deep is None else "baseline"
        return f"no paired comparison: the run has no {missing}"
    c = summary["comparisons"][deep]
    if c["low"] is None:
        return f"{deep} vs {ref}: {c['n_splits']} paired split(s), too few for an interval"
    if c["outside_noise"]:
        better = (c["mean"] > 0) == bool(summary["higher_is_better"])
        what = f"outside split-to-split noise, {deep if better else ref} better"
    else:
        what = "within split-to-split noise"
    return (
        f"best deep vs best baseline ({deep} vs {ref}): Δ {label} {_signed(c['mean'])} "
        f"[{_signed(c['low'])}, {_signed(c['high'])}], {what}; "
        f"{deep} wins {c['wins']} of {c['n_splits']} splits"
    )


def _best(methods: list[str], scores: dict[str, np.ndarray], higher: bool) -> str | None:
    means = {m: float(np.nanmean(scores[m])) for m in methods if np.isfinite(scores[m]).any()}
    if not means:
        return None
    return (max if higher else min)(means, key=means.__getitem__)


def _signed(x: float) -> str:
    return f"{x:+.3f}".replace("-", "−")


def _number(x: object) -> float:
    return float(x) if isinstance(x, int | float) else math.nan


def _json_safe(obj: Any) -> Any:
    """NaN and infinities as None (strict JSON has neither)."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
