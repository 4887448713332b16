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
from matplotlib.patches import Rectangle
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
"""Categorical colours (classes of a latent map, for instance)."""

DEEP_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#e377c2")
BASELINE_COLOURS = ("#4d4d4d", "#b8860b", "#6b8e23", "#8b4513", "#708090")
"""Method colours: saturated for deep models, muted for classical baselines."""
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


def method_colours(methods: list[tuple[str, str]]) -> dict[str, str]:
    """One colour per method, fixed by its kind and its place among methods of that kind.

    The i-th deep model of the configuration gets ``DEEP_COLOURS[i]``, the j-th baseline
    ``BASELINE_COLOURS[j]`` (cycling). The order is the run's (the configuration's), not the
    leaderboard's, so a method keeps its colour in every report of the same configuration
    whatever the ranking.

    Args:
        methods: ``(method, kind)`` pairs in run order; ``kind`` is ``"deep"`` or
            ``"baseline"`` (anything else counts as deep).

    Returns:
        ``method -> colour``.
    """
    out: dict[str, str] = {}
    seen = {"deep": 0, "baseline": 0}
    for method, kind in methods:
        group = "baseline" if kind == "baseline" else "deep"
        palette = BASELINE_COLOURS if group == "baseline" else DEEP_COLOURS
        out[method] = palette[seen[group] % len(palette)]
        seen[group] += 1
    return out


def _proba(preds: pd.DataFrame, classes: list[str]) -> np.ndarray:
    return preds[[f"p_{c}" for c in classes]].to_numpy(dtype=np.float64)


def _codes(preds: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """True class index per row; -1 where the label is not one of ``classes``."""
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(str(v), -1) for v in preds["y_true"]], dtype=np.int64)


def _methods(preds: pd.DataFrame, methods: list[tuple[str, str]], colours: dict[str, str]):
    """(method, kind, colour, rows) for each method with predictions, in leaderboard order."""
    fallback = method_colours(methods)
    for method, kind in methods:
        rows = preds[preds["method"] == method]
        if len(rows):
            yield method, kind, colours.get(method, fallback[method]), rows


def roc_pr_figure(
    preds: pd.DataFrame,
    *,
    binary: bool,
    classes: list[str],
    methods: list[tuple[str, str]],
    colours: dict[str, str] | None = None,
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
        colours: ``method -> colour`` (default: :func:`method_colours` of ``methods``).

    Returns:
        A figure with the ROC axis left and the PR axis right, each legend below its axis
        (inside, it would hide the curves where good models part).
    """
    fig = Figure(figsize=(10, 4.4 + 0.17 * len(methods)), layout="constrained")
    roc_ax, pr_ax = fig.subplots(1, 2)
    prevalence = []
    for method, kind, colour, rows in _methods(preds, methods, colours or {}):
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
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.14), frameon=False)
        ax.title.set_fontsize(10)
    return fig


def confusion_figure(
    preds: pd.DataFrame, *, classes: list[str], methods: list[str], max_label: int = 24
) -> Figure:
    """Confusion matrices (counts; shading = share of the true class) of a few methods.

    The predicted class is the argmax of the probabilities (for two classes: probability of
    ``classes[1]`` above 0.5). The figure grows with the number of classes, and x labels turn
    vertical when there are many classes or long names, so cells keep their size. Every cell is
    a rectangle with the id ``cell-<panel>-<true>-<predicted>``.

    Args:
        preds: ``predictions.csv``.
        classes: class labels in column order.
        methods: the methods to show, one panel each.
        max_label: longer class names are shortened to this many characters (ending "…").

    Returns:
        The figure.
    """
    c = len(classes)
    labels = [k if len(k) <= max_label else k[: max_label - 1] + "…" for k in map(str, classes)]
    font = 8
    label_in = max(len(k) for k in labels) * font * 0.6 / 72  # text length, inches
    cell = 0.75 if c <= 3 else 0.45 if c <= 10 else 0.32
    vertical = c > 3 or label_in > cell
    side = c * cell + label_in + 0.9  # matrix, y labels, axis label
    height = c * cell + (label_in if vertical else 0.25) + 1.3
    fig = Figure(figsize=(0.9 + side * len(methods), height), layout="constrained")
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    cmap = mpl.colormaps["Blues"]
    for p, (ax, method) in enumerate(zip(axes, methods, strict=True)):
        rows = preds[preds["method"] == method]
        y = _codes(rows, classes)
        pred = _proba(rows, classes).argmax(axis=1)
        keep = y >= 0
        counts = np.zeros((c, c), dtype=np.int64)
        np.add.at(counts, (y[keep], pred[keep]), 1)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        for i in range(c):
            for j in range(c):
                ax.add_patch(
                    Rectangle(
                        (j - 0.5, i - 0.5),
                        1,
                        1,
                        facecolor=cmap(share[i, j]),
                        edgecolor="white",
                        lw=0.6,
                        gid=f"cell-{p}-{i}-{j}",
                    )
                )
                if c <= 15:
                    ax.text(
                        j,
                        i,
                        str(counts[i, j]),
                        ha="center",
                        va="center",
                        fontsize=10 if c <= 4 else 7,
                        color="white" if share[i, j] > 0.6 else "black",
                    )
        ax.set(xlim=(-0.5, c - 0.5), ylim=(c - 0.5, -0.5), aspect="equal")
        ax.set_xticks(range(c), labels, fontsize=font, rotation=90 if vertical else 0)
        ax.set_yticks(range(c), labels, fontsize=font)
        ax.tick_params(length=2)
        ax.set(xlabel="predicted class (argmax)", ylabel="true class")
        ax.set_title(f"{method} (n={int(keep.sum())})", fontsize=9, pad=8)
    bar = fig.colorbar(
        mpl.cm.ScalarMappable(mpl.colors.Normalize(0, 1), cmap), ax=list(axes), shrink=0.8
    )
    bar.set_label("share of the true class (row)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return fig


def calibration_figure(
    preds: pd.DataFrame,
    *,
    binary: bool,
    classes: list[str],
    methods: list[str],
    bins: int = 10,
    colours: dict[str, str] | None = None,
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
        colours: ``method -> colour`` (default: the categorical colours in order).

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
        colour = (colours or {}).get(method, COLOURS[i % len(COLOURS)])
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


def attribution_figure(
    frame: pd.DataFrame, *, title: str, top: int = 15, n_splits: int | None = None
) -> Figure:
    """The ``top`` features by attribution: magnitude (± sd, never below 0) and signed mean.

    Columns are read defensively: the feature name is ``feature`` (else the first text
    column); the value ``mean_abs_attribution`` (else ``mean_abs``, ``importance``,
    ``attribution``, ``value``, else the first numeric column other than ``rank``, ``sd*``,
    ``n_*``); the spread ``sd_abs_attribution`` or ``sd`` and ``rank`` are optional. With a
    ``mean_attribution`` column a second panel shows the signed mean (the direction in which
    the feature moves the explained output), on the same features.

    Args:
        frame: one attributions CSV.
        title: the panel's title.
        top: how many features to show.
        n_splits: the run's number of splits; features that ``n_splits_selected`` says were
            selected in fewer splits get a "*" (their attribution counts as 0 elsewhere).

    Returns:
        The figure (magnitude left, signed right).

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
    names = shown[feature].astype(str).to_numpy(dtype=object)
    if n_splits and "n_splits_selected" in numeric:
        partial = shown["n_splits_selected"].to_numpy() < n_splits
        names = np.where(partial, names + " *", names)
    signed = "mean_attribution" in numeric and value != "mean_attribution"
    fig = Figure(figsize=(6.6 if signed else 5.6, 1.3 + 0.24 * len(shown)), layout="constrained")
    axes = fig.subplots(1, 2 if signed else 1, sharey=True, squeeze=False)[0]
    x = shown[value].to_numpy(dtype=np.float64)
    err = None
    if sd is not None:
        spread = shown[sd].to_numpy(dtype=np.float64)
        magnitude = value.startswith("mean_abs") or bool(np.all(x >= 0))
        # a magnitude cannot go below zero: the lower whisker stops there
        err = np.vstack([np.minimum(spread, np.abs(x)) if magnitude else spread, spread])
    axes[0].barh(
        names,
        x,
        xerr=err,
        color=COLOURS[0],
        error_kw={"lw": 0.8, "ecolor": "grey"},
    )
    axes[0].tick_params(axis="y", labelsize=7)
    name = "mean |attribution|" if value.startswith("mean_abs") else value
    axes[0].set_xlabel(name + (" (+ sd over splits)" if err is not None else ""))
    axes[0].set_xlim(left=0 if bool(np.all(x >= 0)) else None)
    if signed:
        s = shown["mean_attribution"].to_numpy(dtype=np.float64)
        axes[1].barh(names, s, color=np.where(s >= 0, "#c0392b", "#2e6da4"))
        axes[1].axvline(0.0, color="grey", lw=0.8)
        axes[1].set_xlabel("mean signed attribution\n(red: raises the output)")
    for ax in axes:
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle(f"{title}: top {len(shown)} of {len(frame)} features", fontsize=10)
    return fig


def attention_figure(
    frame: pd.DataFrame,
    *,
    title: str,
    max_samples: int = 8,
    max_len: int = 64,
    sample_labels: dict[str, str] | None = None,
) -> Figure:
    """Attention each token receives, one heat strip per sample (tokens written in the cells).

    With a ``split`` column only the first split's rows are drawn (a sample held out by
    several repeated hold-out splits would otherwise be drawn over itself).

    Args:
        frame: ``sample_id, position, token, received_attention`` (``token`` and ``split``
            optional; the value column may also be called ``attention``).
        title: the panel's title.
        max_samples: strips drawn (the first samples in the file).
        max_len: positions drawn per strip.
        sample_labels: ``sample_id -> class``, written beside each strip.

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
    if "split" in frame:
        frame = frame[frame["split"].astype(str) == str(frame["split"].iloc[0])]
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
    size = (min(3 + 0.3 * used, 13), 1.4 + 0.36 * len(samples))
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(grid, aspect="auto", cmap="Oranges", interpolation="nearest")
    if used <= 48:
        for (i, j), tok in np.ndenumerate(tokens):
            ax.text(j, i, tok[:5], ha="center", va="center", fontsize=7, color="#222222")
    names = [
        f"{sid} ({sample_labels[sid]})" if sample_labels and sid in sample_labels else sid
        for sid in samples
    ]
    ax.set_yticks(range(len(samples)), names, fontsize=8)
    ax.set(xlabel="token position", ylabel="sample")
    n = frame["sample_id"].nunique()
    where = f", split {frame['split'].iloc[0]}" if "split" in frame else ""
    ax.set_title(f"{title}: first {len(samples)} of n={n} samples{where}", fontsize=10)
    fig.colorbar(image, ax=ax, label="received attention", shrink=0.9)
    return fig


def attention_map_figure(frame: pd.DataFrame, *, title: str, max_len: int = 48) -> Figure:
    """The first sample's attention map (query x key), averaged over layers and heads.

    Position -1 is the encoder's own summary token, labelled ``CLS*`` so that it is not
    mistaken for a ``[CLS]`` token of the input (a tokenizer's, at position 0).

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
    names[-1] = "CLS*"  # the encoder's own summary token, not the tokenizer's [CLS]
    size = min(2.5 + 0.16 * len(grid), 8.0)
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(grid.to_numpy(dtype=np.float64), cmap="Oranges", interpolation="nearest")
    for axis, labels in ((ax.set_xticks, grid.columns), (ax.set_yticks, grid.index)):
        axis(range(len(labels)), [names.get(k, str(k))[:6] for k in labels], fontsize=6)
    ax.tick_params(axis="x", labelrotation=90)
    ax.set(xlabel="key token", ylabel="query token")
    n_layers, n_heads = rows["layer"].nunique(), rows["head"].nunique()
    ax.set_title(f"{title}: sample {sid}\nmean of {n_layers} layers x {n_heads} heads", fontsize=10)
    fig.colorbar(image, ax=ax, label="attention weight", shrink=0.8)
    return fig
