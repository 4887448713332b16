"""The report's paired comparison: per-split scores, paired differences, ensemble vs member.

All methods of a run are scored on the same outer splits, so the report compares them split
by split (:mod:`biozoo.compare`): a dot plot of every split's score joined across methods, each
deep model's paired difference to the best baseline with its corrected resampled t interval
and win count, and a one-line verdict. The numbers are those of ``metrics.json["paired"]``:
the same function computes them from ``metrics.json["per_split"]`` and ``splits.csv``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import numpy as np
from matplotlib.figure import Figure

from biozoo.compare import corrected_t, split_scores
from biozoo.report.blocks import LABELS, figure, note, signed, swatch, table
from biozoo.report.run_files import RunFiles, per_split_aligned

__all__ = [
    "bold_cells",
    "comparison_section",
    "members_rows",
    "paired_figure",
]


def bold_cells(
    per_split: Mapping, sizes: Sequence[tuple[int, int]], metric: str, *, higher_is_better: bool
) -> str | None:
    """The method whose ``metric`` is best beyond noise: better than every other method.

    Better means the corrected resampled t interval of the paired difference excludes zero in
    the method's favour, against each other method.

    Returns:
        The method, or None when the best mean is within split-to-split noise of another.
    """
    if not per_split_aligned(per_split, sizes):
        return None
    scores = split_scores(per_split, metric)
    means = {m: float(np.nanmean(v)) for m, v in scores.items() if np.isfinite(v).any()}
    if len(means) < 2:
        return None
    best = (max if higher_is_better else min)(means, key=means.__getitem__)
    sign = 1.0 if higher_is_better else -1.0
    n_train, n_test = [a for a, _ in sizes], [b for _, b in sizes]
    for other in means:
        if other == best:
            continue
        d = corrected_t(sign * (scores[best] - scores[other]), n_train, n_test)
        if not d.low > 0:
            return None
    return best


def members_rows(metrics: Mapping, metric: str, *, higher_is_better: bool) -> list[list[str]]:
    """Per deep model: ensemble score, single-member score, the ensemble's gain, fit time.

    The single-member score of a split is the mean over the ensemble's members of their own
    scores (``metrics.json["members"]``); both are then averaged over splits.
    """
    scores = split_scores(metrics.get("per_split") or {}, metric)
    seconds = metrics.get("seconds") or {}
    rows = []
    for model, per_split in (metrics.get("members") or {}).items():
        member = np.array([_get(s, metric, "mean") for s in per_split], dtype=np.float64)
        spread = np.array([_get(s, metric, "sd") for s in per_split], dtype=np.float64)
        n = [s.get(metric, {}).get("n") for s in per_split if isinstance(s, Mapping)]
        ens = scores.get(model, np.full(len(member), np.nan))
        if len(ens) != len(member) or not np.isfinite(member).any():
            continue
        gain = (np.nanmean(ens - member)) * (1 if higher_is_better else -1)
        fit = seconds.get(model)
        rows.append(
            [
                escape(model),
                f"{np.nanmean(ens):.3f}",
                f"{np.nanmean(member):.3f} ± {np.nanmean(spread):.3f}",
                f"{gain:+.3f}".replace("-", "−"),
                str(max((k for k in n if isinstance(k, int)), default="?")),
                f"{fit:.1f}" if isinstance(fit, int | float) else "",
            ]
        )
    return rows


def _get(summary: object, metric: str, key: str) -> float:
    value = summary.get(metric, {}).get(key) if isinstance(summary, Mapping) else None
    return float(value) if isinstance(value, int | float) else np.nan


def paired_figure(
    per_split: Mapping,
    summary: Mapping,
    *,
    order: Sequence[str],
    colours: Mapping[str, str],
    splits: Sequence[str],
    label: str,
) -> Figure:
    """Per-split scores joined across methods (left); paired differences to the best baseline.

    Args:
        per_split: ``metrics.json["per_split"]``.
        summary: the run's paired summary (:func:`~biozoo.report.run_files.summarize_run`).
        order: methods in leaderboard order (the x axis).
        colours: ``method -> colour``.
        splits: split names.
        label: the metric's name.

    Returns:
        The figure: one grey line per split through its methods' scores; then, per deep model,
        its split differences (dots) and the mean with its interval (bar).
    """
    metric = str(summary["metric"])
    scores = split_scores(per_split, metric)
    methods = [m for m in order if m in scores]
    comparisons = summary.get("comparisons") or {}
    fig = Figure(figsize=(11, 1.6 + max(3.0, 0.32 * len(methods))), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1.25, 1))
    grid = np.array([scores[m] for m in methods])  # (methods, splits)
    for j in range(grid.shape[1]):
        left.plot(range(len(methods)), grid[:, j], color="#b0b0b0", lw=0.8, zorder=1)
        if j < len(splits) and np.isfinite(grid[-1, j]):  # name the split at the line's end
            left.annotate(
                splits[j],
                (len(methods) - 1, grid[-1, j]),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
                color="#777777",
            )
    for i, m in enumerate(methods):
        left.scatter(np.full(grid.shape[1], i), grid[i], s=22, color=colours.get(m), zorder=2)
        left.plot([i - 0.22, i + 0.22], [np.nanmean(grid[i])] * 2, color="black", lw=1.6)
    left.set_xticks(range(len(methods)), methods, rotation=25, ha="right", fontsize=8)
    left.set_xlim(-0.5, len(methods) - 0.2)
    left.set_ylabel(label)
    left.set_title(
        f"{label} per split ({len(splits)} splits; grey lines join a split, bar = mean)",
        fontsize=10,
    )
    ref = summary.get("reference")
    deep = list(comparisons)
    for i, m in enumerate(deep):
        c = comparisons[m]
        diffs = scores[m] - scores[ref]
        right.scatter(diffs, np.full(len(diffs), i + 0.1), s=16, color=colours.get(m), alpha=0.7)
        if c["low"] is not None:
            right.errorbar(
                c["mean"],
                i,
                xerr=[[c["mean"] - c["low"]], [c["high"] - c["mean"]]],
                fmt="D",
                color="black",
                ms=5,
                capsize=3,
                lw=1.2,
            )
    right.axvline(0.0, color="grey", lw=0.8, ls=":")
    right.set_yticks(range(len(deep)), deep, fontsize=8)
    right.set_ylim(-0.5, max(len(deep), 1) - 0.5)
    right.invert_yaxis()
    level = int(round(100 * float(summary.get("level", 0.95))))
    right.set_xlabel(f"Δ {label} (deep model − {ref})")
    right.set_title(
        f"paired difference to the best baseline (mean, {level}% interval)", fontsize=10
    )
    if not deep:
        right.text(
            0.5,
            0.5,
            "no deep model and baseline to pair",
            ha="center",
            transform=right.transAxes,
            color="grey",
        )
    return fig


def comparison_section(run: RunFiles, paired: dict) -> str:
    """The section: verdict, per-split dot plot, paired differences, ensemble vs member.

    Args:
        run: the run folder's files.
        paired: the run's paired summary (:func:`~biozoo.report.run_files.summarize_run`).

    Returns:
        The section's HTML.
    """
    per_split = run.metrics.get("per_split") or {}
    if not per_split or not per_split_aligned(per_split, run.sizes):
        return note("No per-split scores in metrics.json that line up with the run's splits.")
    metric = str(paired["metric"])
    label = LABELS.get(metric, metric)
    splits = [str(s) for s in run.metrics.get("splits") or []]
    sizes = run.sizes
    ratio = np.mean([b / a for a, b in sizes if a]) if sizes else float("nan")
    ref = paired.get("reference")
    intro = (
        f'<p class="verdict">{escape(paired["verdict"])}</p>'
        f"<p>Every method was scored on the same {len(splits)} outer splits, so methods are "
        f"compared split by split on {escape(label)}. A paired difference removes what the "
        "splits share (an easy test set is easy for every method). The splits' training sets "
        "overlap, so the differences are not independent: the 95% interval is the corrected "
        "resampled t interval of Nadeau &amp; Bengio (2003), whose variance is "
        f"(1/J + n<sub>test</sub>/n<sub>train</sub>) s², with J = {len(splits)} and "
        f"n<sub>test</sub>/n<sub>train</sub> = {ratio:.3f} from splits.csv, and J − 1 degrees "
        "of freedom. An interval that contains 0 means the difference is within "
        'split-to-split noise. The same numbers are in metrics.json ("paired").</p>'
    )
    order = list(run.board["method"].astype(str)) if run.board is not None else list(per_split)
    fig = paired_figure(
        per_split, paired, order=order, colours=run.colours, splits=splits, label=label
    )
    html = intro + figure(
        fig,
        "paired",
        "Left: each split's score of every method, joined by a grey line per split. Right: "
        f"each deep model minus {escape(str(ref))} per split, and the mean with its interval.",
        wide=True,
    )
    comparisons = paired.get("comparisons") or {}
    if comparisons:
        rows = [
            [
                swatch(run.colours.get(m)) + escape(m),
                signed(c["mean"]),
                f"[{signed(c['low'])}, {signed(c['high'])}]",
                signed(c["t"], ".2f"),
                signed(c["p"], ".3f"),
                f"{c['wins']} / {c['losses']} / {c['ties']}",
                "outside noise" if c["outside_noise"] else "within noise",
            ]
            for m, c in comparisons.items()
        ]
        header = [
            "deep model",
            f"Δ {escape(label)} vs {escape(str(ref))}",
            "95% interval",
            "t",
            "p",
            "wins / losses / ties",
            "",
        ]
        html += f'<div class="scroll">{table(header, rows, "board")}</div>'
    members = members_rows(run.metrics, metric, higher_is_better=bool(paired["higher_is_better"]))
    if members:
        html += (
            '<h3 id="members">Ensemble and single members</h3><p>Each deep model is an '
            "ensemble of members trained with different seeds on the same split. A member's "
            "score is its own held-out score; the ensemble averages the members' predictions. "
            "Both are means over splits (member: ± the mean within-split sd); the gain is what "
            "averaging adds. Each member's training curves are in "
            '<a href="#training">Training</a>.</p>'
        )
        header = [
            "deep model",
            f"ensemble {escape(label)}",
            "single member",
            "ensemble gain",
            "members",
            "fit time, all splits (s)",
        ]
        html += f'<div class="scroll">{table(header, members, "board")}</div>'
    return html
