"""Metric helpers, their summary over splits, and the leaderboard that compares methods.

Every method in a comparison (deep models and classical baselines alike) is scored on each
outer split by its task's :meth:`~biozoo.tasks.base.Task.metrics` (which uses
:func:`classification_metrics` and :func:`regression_metrics` here); :func:`summarize`
reduces the per-split values to mean, spread and count; :func:`leaderboard` puts the methods
side by side, best first, by the task's primary metric.

Conventions: classification targets are int class codes ``0..C-1`` and predictions are
probabilities of shape ``[n, C]`` (binary too: ``[n, 2]``); regression targets and predictions
are float arrays of shape ``[n]``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn import metrics as skm

__all__ = [
    "MetricSpec",
    "classification_metrics",
    "format_mean_sd",
    "leaderboard",
    "regression_metrics",
    "summarize",
]


class MetricSpec(Protocol):
    """What a leaderboard needs of a task (every :class:`~biozoo.tasks.base.Task` has it)."""

    metric_names: tuple[str, ...]
    primary: str
    higher_is_better: dict[str, bool]


def _checked(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"y_true must be a non-empty 1-d array, got shape {y_true.shape}")
    if not np.all(np.isfinite(y_pred)):
        raise ValueError("y_pred contains NaN or infinite values")
    return y_true, y_pred


def classification_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    *,
    n_classes: int | None = None,
    binary: bool = False,
    name: str = "classification",
) -> dict[str, float]:
    """Scores of one split's class probabilities.

    * ``roc_auc`` / ``pr_auc``: binary uses column 1 of ``proba`` (ROC AUC and average
      precision). Multiclass uses one-vs-rest ROC AUC and average precision, macro-averaged
      over the classes *present in* ``y_true``; a class absent from the split (possible with
      small folds) is skipped rather than crashing. With fewer than two classes present both
      are NaN.
    * ``balanced_accuracy``, ``macro_f1``, ``accuracy``: on labels ``argmax(proba)``. Balanced
      accuracy and macro F1 average over the classes present in ``y_true`` too (F1 of a class
      with no predictions counts as 0).
    * ``log_loss``: over all ``C`` classes (``labels=range(C)``).

    Args:
        y_true: int class codes ``0..C-1`` ``[n]``.
        proba: probabilities ``[n, C]``.
        n_classes: ``C``; defaults to ``proba.shape[1]``.
        binary: score ROC AUC and PR AUC on column 1 (the positive class) alone.
        name: the task's name, for messages.

    Returns:
        ``roc_auc``, ``pr_auc``, ``balanced_accuracy``, ``macro_f1``, ``accuracy``,
        ``log_loss``, in that order.

    Raises:
        ValueError: mismatched shapes, labels outside ``0..C-1``, or non-finite predictions.
    """
    y_true, proba = _checked(y_true, proba)
    return _classification_metrics(y_true, proba, task=name, n_classes=n_classes, binary=binary)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``rmse``, ``mae`` and ``r2`` (NaN for fewer than two samples) of predictions ``[n]``."""
    y_true, y_pred = _checked(y_true, y_pred)
    return _regression_metrics(y_true.astype(np.float64), _as_1d(y_pred, len(y_true)))


def _as_1d(y_pred: np.ndarray, n: int) -> np.ndarray:
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred[:, 0]
    if y_pred.shape != (n,):
        raise ValueError(f"regression y_pred must have shape ({n},), got {y_pred.shape}")
    return y_pred


def _regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    err = y_pred - y_true
    r2 = float("nan")
    if len(y_true) >= 2:
        r2 = float(skm.r2_score(y_true, y_pred))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": r2,
    }


def _classification_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    *,
    task: str,
    n_classes: int | None,
    binary: bool,
) -> dict[str, float]:
    if proba.ndim != 2 or proba.shape[0] != len(y_true):
        raise ValueError(
            f"{task} y_pred must be probabilities of shape ({len(y_true)}, C), got {proba.shape}"
        )
    n_classes = proba.shape[1] if n_classes is None else n_classes
    if proba.shape[1] != n_classes:
        raise ValueError(f"y_pred has {proba.shape[1]} columns but n_classes is {n_classes}")
    if binary and n_classes != 2:
        raise ValueError(f"{task} y_pred must have 2 columns, got {n_classes}")
    if not np.all(np.equal(np.mod(y_true, 1), 0)):
        raise ValueError("classification y_true must hold integer class codes")
    y_true = y_true.astype(np.int64)
    if y_true.min() < 0 or y_true.max() >= n_classes:
        raise ValueError(f"y_true holds labels outside 0..{n_classes - 1}")

    present = np.unique(y_true)
    labels = np.argmax(proba, axis=1)
    if binary:
        roc, ap = _binary_scores(y_true == 1, proba[:, 1])
    elif len(present) < 2:
        roc, ap = float("nan"), float("nan")
    else:
        pairs = [_binary_scores(y_true == k, proba[:, k]) for k in present]
        roc = float(np.mean([p[0] for p in pairs]))
        ap = float(np.mean([p[1] for p in pairs]))
    with warnings.catch_warnings():
        # balanced accuracy warns when argmax predicts a class absent from y_true; it then
        # averages over the present classes, which is what this function documents.
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(skm.balanced_accuracy_score(y_true, labels))
    return {
        "roc_auc": roc,
        "pr_auc": ap,
        "balanced_accuracy": balanced,
        "macro_f1": float(
            skm.f1_score(y_true, labels, labels=present, average="macro", zero_division=0)
        ),
        "accuracy": float(np.mean(labels == y_true)),
        "log_loss": float(skm.log_loss(y_true, _normalized(proba), labels=range(n_classes))),
    }


def _binary_scores(positive: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """ROC AUC and average precision of one positive-vs-rest problem; NaN if one-sided."""
    if positive.all() or not positive.any():
        return float("nan"), float("nan")
    return (
        float(skm.roc_auc_score(positive, score)),
        float(skm.average_precision_score(positive, score)),
    )


def _normalized(proba: np.ndarray) -> np.ndarray:
    """Rows rescaled to sum to 1 (log_loss warns on float drift otherwise)."""
    total = proba.sum(axis=1, keepdims=True)
    return np.divide(proba, total, out=np.full_like(proba, 1.0 / proba.shape[1]), where=total > 0)


def summarize(per_split: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, spread and count of each metric over splits, ignoring NaN values.

    Args:
        per_split: one ``{metric: value}`` dict per split (as from a task's ``metrics``).
            A metric missing from a split counts as NaN there.

    Returns:
        ``{metric: {"mean": m, "sd": s, "n": k}}`` in order of first appearance, where ``k``
        is the number of splits with a finite value, ``sd`` uses ``ddof=1`` and is 0.0 when
        ``k == 1``; ``mean`` and ``sd`` are NaN when ``k == 0``.
    """
    names: dict[str, None] = {}
    for split in per_split:
        names.update(dict.fromkeys(split))
    out: dict[str, dict[str, float]] = {}
    for name in names:
        values = np.array([s.get(name, np.nan) for s in per_split], dtype=np.float64)
        values = values[~np.isnan(values)]
        k = len(values)
        mean = float(values.mean()) if k else float("nan")
        sd = float(values.std(ddof=1)) if k > 1 else (0.0 if k == 1 else float("nan"))
        out[name] = {"mean": mean, "sd": sd, "n": k}
    return out


def leaderboard(
    results: dict[str, list[dict[str, float]]],
    *,
    task: MetricSpec,
    kinds: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per method with mean and SD of each metric over splits, best first.

    Args:
        results: ``{method: [per-split metric dict, ...]}``.
        task: the task, which gives the metric columns (``task.metric_names``) and the
            primary metric (``task.primary``) the rows are sorted by.
        kinds: optional ``{method: kind}`` (e.g. ``"deep"`` / ``"baseline"``) for a ``kind``
            column; a method missing from it gets ``""``.

    Returns:
        Columns ``method``, (``kind``), ``n_splits`` (number of per-split dicts), then
        ``<metric>_mean`` and ``<metric>_sd`` for each metric of ``task.metric_names`` followed
        by any other metric found in ``results``. Rows are sorted by the primary metric's
        mean, best first (direction from ``task.higher_is_better``), NaN last; means equal to 12
        decimals are ties, broken by method name. The index is ``0..n-1``.
    """
    summaries = {method: summarize(splits) for method, splits in results.items()}
    extra: dict[str, None] = {}
    for summary in summaries.values():
        extra.update(dict.fromkeys(m for m in summary if m not in task.metric_names))
    metric_names = [*task.metric_names, *extra]

    rows = []
    for method, summary in summaries.items():
        row: dict[str, object] = {"method": method}
        if kinds is not None:
            row["kind"] = kinds.get(method, "")
        row["n_splits"] = len(results[method])
        for name in metric_names:
            stats = summary.get(name, {"mean": math.nan, "sd": math.nan})
            row[f"{name}_mean"] = stats["mean"]
            row[f"{name}_sd"] = stats["sd"]
        rows.append(row)

    primary = task.primary
    sign = -1.0 if task.higher_is_better[primary] else 1.0

    def sort_key(row: dict[str, object]) -> tuple[bool, float, str]:
        value = float(row[f"{primary}_mean"])  # type: ignore[arg-type]
        missing = math.isnan(value)
        # rounding makes means that differ only by float noise (0.8500000000000001) ties
        return missing, 0.0 if missing else round(sign * value, 12), str(row["method"])

    columns = ["method", *(["kind"] if kinds is not None else []), "n_splits"]
    columns += [f"{name}_{stat}" for name in metric_names for stat in ("mean", "sd")]
    return pd.DataFrame(sorted(rows, key=sort_key), columns=columns)


def format_mean_sd(mean: float, sd: float, digits: int = 3) -> str:
    """``mean ± sd`` with a fixed number of decimals, e.g. ``"0.660 ± 0.060"``.

    Args:
        mean: the mean; NaN gives ``"n/a"``.
        sd: the spread; NaN gives the mean alone.
        digits: decimals for both numbers.

    Returns:
        The formatted string.
    """
    if math.isnan(mean):
        return "n/a"
    if math.isnan(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"
