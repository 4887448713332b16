"""The report's figures, drawn with matplotlib's object API (no pyplot, no global state).

Every function takes tables read from a run folder and returns a :class:`Figure`;
:func:`to_svg` turns it into a small inline SVG (text kept as text, no metadata). Prediction
plots pool the held-out predictions of every split: each row of ``predictions.csv`` is one
sample scored by a model that never saw it (a sample held out in several repeated splits
counts once per split).
"""

from __future__ import annotations

import io
import re

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn import metrics as skm

__all__ = [
    "COLOURS",
    "attention_figure",
    "attention_map_figure",
    "attribution_figure",
    "calibration_figure",
    "confusion_figure",
    "regression_figure",
    "roc_pr_figure",
    "to_svg",
]

COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
"""The report's one colour palette."""
_GRID = np.linspace(0.0, 1.0, 201)


def to_svg(fig: Figure, key: str) -> str:
    """The figure as an ``<svg>`` element for inlining in HTML.

    Args:
        fig: the figure.
        key: a salt for matplotlib's element ids, unique per figure of a page (ids of
            different inline SVGs must not clash) and stable, so reports are reproducible.

    Returns:
        The SVG markup without XML prolog, doctype or metadata.
    """
    buf = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": key}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    return re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)


def _proba(preds: pd.DataFrame, classes: list[str]) -> np.ndarray:
    return preds[[f"p_{c}" for c in classes]].to_numpy(dtype=np.float64)


def _codes(preds: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """True class index per row; -1 where the label is not one of ``classes``."""
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(str(v), -1) for v in preds["y_true"]], dtype=np.int64)


def _methods(preds: pd.DataFrame, methods: list[tuple[str, str]]):
    """(method, kind, colour, rows) for each method with predictions, in leaderboard order."""
    for i, (method, kind) in enumerate(methods):
        rows = preds[preds["method"] == method]
        if len(rows):
            yield method, kind, COLOURS[i % len(COLOURS)], rows


def roc_pr_figure(
    preds: pd.DataFrame, *, binary: bool, classes: list[str], methods: list[tuple[str, str]]
) -> Figure:
    """ROC and precision-recall curves of every method on pooled held-out predictions.

    Binary: the positive class is ``classes[1]``. Multiclass: one-vs-rest curves averaged over
    the classes (macro; each class's curve interpolated on a common grid), AUCs the mean of the
    per-class AUCs. Deep models are solid lines, baselines dashed.

    Args:
        preds: ``predictions.csv`` (``method``, ``y_true``, ``p_<class>``).
        binary: score the positive class (``classes[1]``) alone, else one-vs-rest.
        classes: class labels in column order.
        methods: ``(method, kind)`` pairs in leaderboard order.

    Returns:
        A figure with the ROC axis left and the PR axis right.
    """
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    roc_ax, pr_ax = fig.subplots(1, 2)
    prevalence = []
    for method, kind, colour, rows in _methods(preds, methods):
        y, p = _codes(rows, classes), _proba(rows, classes)
        keep = y >= 0
        y, p = y[keep], p[keep]
        ks = [1] if binary else range(len(classes))
        ks = [k for k in ks if 0 < (y == k).sum() < len(y)]  # one-sided classes have no curve
        if not ks:
            continue
        tpr, prec, aucs, aps = [], [], [], []
        for k in ks:
            fpr, t, _ = skm.roc_curve(y == k, p[:, k])
            tpr.append(np.interp(_GRID, fpr, t))
            pr, rc, _ = skm.precision_recall_curve(y == k, p[:, k])
            prec.append(np.interp(_GRID, rc[::-1], pr[::-1]))
            aucs.append(skm.roc_auc_score(y == k, p[:, k]))
            aps.append(skm.average_precision_score(y == k, p[:, k]))
            prevalence.append(np.mean(y == k))
        style = {"color": colour, "lw": 1.6, "ls": "-" if kind != "baseline" else "--"}
        roc_label = f"{method} (AUC {np.mean(aucs):.3f}, n={len(y)})"
        roc_ax.plot(_GRID, np.mean(tpr, axis=0), label=roc_label, **style)
        pr_label = f"{method} (AP {np.mean(aps):.3f})"
        pr_ax.plot(_GRID, np.mean(prec, axis=0), label=pr_label, **style)
    roc_ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":", label="chance")
    if prevalence:
        pr_ax.axhline(float(np.mean(prevalence)), color="grey", lw=0.8, ls=":", label="chance")
    which = f"positive class '{classes[1]}'" if binary else "one-vs-rest, macro average"
    roc_ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=f"ROC ({which})",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    pr_ax.set(
        xlabel="recall",
        ylabel="precision",
        title=f"precision-recall ({which})",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize=7, loc="lower right" if ax is roc_ax else "upper right")
        ax.title.set_fontsize(10)
    return fig


def confusion_figure(preds: pd.DataFrame, *, classes: list[str], methods: list[str]) -> Figure:
    """Confusion matrices (counts; shading = fraction of the true class) of a few methods.

    Args:
        preds: ``predictions.csv``.
        classes: class labels in column order; the predicted class is the argmax.
        methods: the methods to show, one panel each.

    Returns:
        The figure.
    """
    c = len(classes)
    fig = Figure(figsize=(0.4 + 2.9 * len(methods), 2.9 + 0.15 * c), layout="constrained")
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    for ax, method in zip(axes, methods, strict=True):
        rows = preds[preds["method"] == method]
        y = _codes(rows, classes)
        pred = _proba(rows, classes).argmax(axis=1)
        keep = y >= 0
        counts = np.zeros((c, c), dtype=np.int64)
        np.add.at(counts, (y[keep], pred[keep]), 1)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(c):
            for j in range(c):
                ax.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    fontsize=10,
                    color="white" if share[i, j] > 0.6 else "black",
                )
        ax.set_xticks(range(c), classes, fontsize=8)
        ax.set_yticks(range(c), classes, fontsize=8)
        ax.set(xlabel="predicted class", ylabel="true class")
        ax.set_title(f"{method} (n={int(keep.sum())})", fontsize=9)
    return fig


def calibration_figure(
    preds: pd.DataFrame, *, binary: bool, classes: list[str], methods: list[str], bins: int = 10
) -> Figure:
    """Reliability diagram with the number of predictions per bin underneath.

    Binary: predicted probability of ``classes[1]`` against the observed fraction of that
    class. Multiclass: top-label confidence (largest probability) against accuracy. Bins are
    ``bins`` equal-width intervals of [0, 1]; empty bins are not drawn.

    Args:
        preds: ``predictions.csv``.
        binary: score the positive class (``classes[1]``) alone, else one-vs-rest.
        classes: class labels in column order.
        methods: the methods to draw.
        bins: number of bins.

    Returns:
        The figure (reliability curve on top, counts below).
    """
    fig = Figure(figsize=(5.6, 5.4), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.4))
    edges = np.linspace(0, 1, bins + 1)
    width = 1.0 / bins / (len(methods) + 1)
    for i, method in enumerate(methods):
        rows = preds[preds["method"] == method]
        y, p = _codes(rows, classes), _proba(rows, classes)
        keep = y >= 0
        y, p = y[keep], p[keep]
        if binary:
            score, hit = p[:, 1], (y == 1).astype(float)
        else:
            score, hit = p.max(axis=1), (p.argmax(axis=1) == y).astype(float)
        which = np.clip(np.digitize(score, edges[1:-1]), 0, bins - 1)
        count = np.bincount(which, minlength=bins)
        mean_p = np.bincount(which, weights=score, minlength=bins) / np.maximum(count, 1)
        observed = np.bincount(which, weights=hit, minlength=bins) / np.maximum(count, 1)
        used = count > 0
        colour = COLOURS[i % len(COLOURS)]
        top.plot(
            mean_p[used],
            observed[used],
            marker="o",
            ms=4,
            color=colour,
            label=f"{method} (n={len(y)})",
        )
        bottom.bar(edges[:-1] + (i + 0.5) * width, count, width=width, color=colour, align="edge")
    top.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":", label="perfectly calibrated")
    if binary:
        x_label, y_label = f"predicted probability of '{classes[1]}'", f"fraction '{classes[1]}'"
    else:
        x_label, y_label = "confidence (top-label probability)", "accuracy"
    top.set(ylabel=f"observed {y_label}", xlim=(0, 1), ylim=(0, 1.01))
    top.set_title("calibration (reliability diagram)", fontsize=10)
    top.legend(fontsize=7, loc="upper left")
    bottom.set(xlabel=x_label, ylabel="predictions per bin")
    return fig


def regression_figure(preds: pd.DataFrame, *, methods: list[str], target: str) -> Figure:
    """Predicted against observed values, and residuals, one row per method.

    Args:
        preds: ``predictions.csv`` (``y_true``, ``prediction``).
        methods: the methods to show.
        target: the target's name, for the axis labels (values are in its units).

    Returns:
        The figure.
    """
    fig = Figure(figsize=(9, 3.8 * len(methods)), layout="constrained")
    axes = fig.subplots(len(methods), 2, squeeze=False)
    for (left, right), method in zip(axes, methods, strict=True):
        rows = preds[preds["method"] == method]
        obs = pd.to_numeric(rows["y_true"], errors="coerce").to_numpy(dtype=np.float64)
        pred = pd.to_numeric(rows["prediction"], errors="coerce").to_numpy(dtype=np.float64)
        keep = np.isfinite(obs) & np.isfinite(pred)
        obs, pred = obs[keep], pred[keep]
        left.scatter(obs, pred, s=12, alpha=0.7, color=COLOURS[0], edgecolors="none")
        both = np.concatenate([obs, pred]) if len(obs) else np.array([0.0, 1.0])
        lo, hi = float(both.min()), float(both.max())
        left.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls=":", label="predicted = observed")
        r2 = skm.r2_score(obs, pred) if len(obs) > 1 else float("nan")
        left.set(xlabel=f"observed {target}", ylabel=f"predicted {target}")
        left.set_title(f"{method}: predicted vs observed (n={len(obs)}, R² {r2:.3f})", fontsize=10)
        left.legend(fontsize=7, loc="upper left")
        right.scatter(pred, pred - obs, s=12, alpha=0.7, color=COLOURS[1], edgecolors="none")
        right.axhline(0.0, color="grey", lw=0.8, ls=":")
        right.set(xlabel=f"predicted {target}", ylabel=f"residual (predicted − observed {target})")
        rmse = float(np.sqrt(np.mean((pred - obs) ** 2))) if len(obs) else float("nan")
        right.set_title(f"{method}: residuals (n={len(obs)}, RMSE {rmse:.3f})", fontsize=10)
    return fig


def attribution_figure(frame: pd.DataFrame, *, title: str, top: int = 15) -> Figure:
    """Horizontal bars of the ``top`` features by attribution, with ± sd where given.

    Columns are read defensively: the feature name is ``feature`` (else the first text
    column); the value ``mean_abs_attribution`` (else ``mean_abs``, ``importance``,
    ``attribution``, ``value``, else the first numeric column other than ``rank``, ``sd*``,
    ``n_*``); the spread ``sd_abs_attribution`` or ``sd`` and ``rank`` are optional.

    Args:
        frame: one attributions CSV.
        title: the panel's title.
        top: how many features to show.

    Returns:
        The figure.

    Raises:
        ValueError: no feature or value column.
    """
    feature = (
        "feature"
        if "feature" in frame
        else next((c for c in frame.columns if frame[c].dtype == object), None)
    )
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    preferred = ("mean_abs_attribution", "mean_abs", "importance", "attribution", "value")
    value = next(
        (c for c in preferred if c in numeric),
        next((c for c in numeric if c != "rank" and not c.startswith(("sd", "n_"))), None),
    )
    sd = next((c for c in ("sd_abs_attribution", "sd") if c in numeric), None)
    if feature is None or value is None or frame.empty:
        raise ValueError(f"needs a feature and a numeric value column, has {list(frame.columns)}")
    if "rank" in numeric:
        order = frame.sort_values("rank")
    else:
        order = frame.sort_values(value, ascending=False, key=np.abs)
    shown = order.head(top).iloc[::-1]
    fig = Figure(figsize=(5.6, 1.2 + 0.24 * len(shown)), layout="constrained")
    ax = fig.subplots()
    err = shown[sd].to_numpy(dtype=np.float64) if sd is not None else None
    ax.barh(
        shown[feature].astype(str),
        shown[value].to_numpy(dtype=np.float64),
        xerr=err,
        color=COLOURS[0],
        error_kw={"lw": 0.8, "ecolor": "grey"},
    )
    ax.tick_params(axis="y", labelsize=7)
    name = "mean |attribution|" if value.startswith("mean_abs") else value
    ax.set_xlabel(name + (" (± sd over splits)" if err is not None else ""))
    ax.set_title(f"{title}: top {len(shown)} of {len(frame)} features", fontsize=10)
    return fig


def attention_figure(
    frame: pd.DataFrame, *, title: str, max_samples: int = 8, max_len: int = 64
) -> Figure:
    """Attention each token receives, one heat strip per sample (tokens written in the cells).

    Args:
        frame: ``sample_id, position, token, received_attention`` (``token`` optional; the
            value column may also be called ``attention``).
        title: the panel's title.
        max_samples: strips drawn (the first samples in the file).
        max_len: positions drawn per strip.

    Returns:
        The figure.

    Raises:
        ValueError: a required column is missing.
    """
    value = next((c for c in ("received_attention", "attention", "value") if c in frame), None)
    if value is None or "sample_id" not in frame or "position" not in frame or frame.empty:
        raise ValueError(
            f"needs sample_id, position and received_attention, has {list(frame.columns)}"
        )
    samples = list(dict.fromkeys(frame["sample_id"].astype(str)))[:max_samples]
    grid = np.full((len(samples), max_len), np.nan)
    tokens = np.full((len(samples), max_len), "", dtype=object)
    for i, sid in enumerate(samples):
        rows = frame[frame["sample_id"].astype(str) == sid]
        pos = rows["position"].to_numpy(dtype=np.int64)
        ok = (pos >= 0) & (pos < max_len)
        grid[i, pos[ok]] = rows[value].to_numpy(dtype=np.float64)[ok]
        if "token" in rows:
            tokens[i, pos[ok]] = rows["token"].astype(str).to_numpy()[ok]
    used = int(np.max(np.nonzero(np.isfinite(grid).any(axis=0))[0], initial=0)) + 1
    grid, tokens = grid[:, :used], tokens[:, :used]
    size = (min(2 + 0.32 * used, 11), 1.3 + 0.42 * len(samples))
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(grid, aspect="auto", cmap="Oranges", interpolation="nearest")
    if used <= 48:
        for (i, j), tok in np.ndenumerate(tokens):
            ax.text(j, i, tok[:4], ha="center", va="center", fontsize=6, color="#333333")
    ax.set_yticks(range(len(samples)), samples, fontsize=7)
    ax.set(xlabel="token position", ylabel="sample")
    n = frame["sample_id"].nunique()
    ax.set_title(f"{title}: {len(samples)} of n={n} samples", fontsize=10)
    fig.colorbar(image, ax=ax, label="received attention", shrink=0.9)
    return fig


def attention_map_figure(frame: pd.DataFrame, *, title: str, max_len: int = 48) -> Figure:
    """The first sample's attention map (query x key), averaged over layers and heads.

    Args:
        frame: ``sample_id, layer, head, query, key, weight`` (``query_token`` and
            ``key_token`` optional), as ``attention_maps/<model>/<modality>.csv``.
        title: the panel's title.
        max_len: positions drawn on each axis.

    Returns:
        The figure.

    Raises:
        ValueError: a required column is missing.
    """
    need = ["sample_id", "layer", "head", "query", "key", "weight"]
    if frame.empty or any(c not in frame for c in need):
        raise ValueError(f"needs {', '.join(need)}, has {list(frame.columns)}")
    sid = str(frame["sample_id"].iloc[0])
    rows = frame[frame["sample_id"].astype(str) == sid]
    grid = rows.pivot_table(index="query", columns="key", values="weight", aggfunc="mean")
    grid = grid.iloc[:max_len, :max_len]
    names = {}
    if "key_token" in rows:
        names = dict(zip(rows["key"], rows["key_token"].astype(str), strict=True))
    size = min(2.5 + 0.16 * len(grid), 8.0)
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(grid.to_numpy(dtype=np.float64), cmap="Oranges", interpolation="nearest")
    for axis, labels in ((ax.set_xticks, grid.columns), (ax.set_yticks, grid.index)):
        axis(range(len(labels)), [names.get(k, str(k))[:4] for k in labels], fontsize=6)
    ax.tick_params(axis="x", labelrotation=90)
    ax.set(xlabel="key token", ylabel="query token")
    n_layers, n_heads = rows["layer"].nunique(), rows["head"].nunique()
    ax.set_title(f"{title}: sample {sid}, mean of {n_layers} layers x {n_heads} heads", fontsize=10)
    fig.colorbar(image, ax=ax, label="attention weight", shrink=0.8)
    return fig
