"""The report's "Search" section: what ``biozoo search`` tried on each outer split.

It reads ``search/trials.csv``, ``search/importance.csv`` and ``search/summary.json``
(:class:`~biozoo.search.layout.SearchLayout`): a table of the best trial per outer split
(its mean inner score beside its one outer test score), the optimisation history (every
trial's inner score and the best so far, per outer split) and the parameters' importance.
"""

from __future__ import annotations

import json
from html import escape

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from biozoo.report.blocks import LABELS, figure, note, table
from biozoo.report.plots import COLOURS
from biozoo.report.run_files import RunFiles
from biozoo.search.layout import SearchLayout

__all__ = ["history_figure", "importance_figure", "search_section"]


def history_figure(trials: pd.DataFrame, *, maximize: bool, metric: str) -> Figure:
    """Each trial's mean inner score (dots) and the best so far (a step line), one colour per
    outer split; pruned and failed trials have no score and are left out."""
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for i, (split, rows) in enumerate(trials.groupby("split", sort=False)):
        colour = COLOURS[i % len(COLOURS)]
        rows = rows.sort_values("number")
        done = rows[rows["state"] == "COMPLETE"]
        values = done["value"].to_numpy(dtype=float)
        best = np.maximum.accumulate(values) if maximize else np.minimum.accumulate(values)
        ax.plot(done["number"], values, "o", ms=4, color=colour, alpha=0.6)
        ax.step(done["number"], best, where="post", color=colour, label=str(split))
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"mean inner {metric}")
    ax.grid(alpha=0.3)
    ax.legend(title="outer split", fontsize=8, title_fontsize=8, loc="best")
    return fig


def importance_figure(importance: pd.DataFrame) -> Figure:
    """Each parameter's importance: the mean over outer splits (bar) and each split (dots)."""
    mean = importance.groupby("parameter")["importance"].mean().sort_values()
    fig = Figure(figsize=(6.4, 0.6 + 0.35 * len(mean)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(mean))
    ax.barh(y, mean.to_numpy(), color="#9ecae1")
    where = {p: k for k, p in enumerate(mean.index)}
    ax.plot(
        importance["importance"],
        [where[p] for p in importance["parameter"]],
        "o",
        ms=3,
        color="#08519c",
    )
    ax.set_yticks(y, [str(p) for p in mean.index], fontsize=8)
    ax.set_xlabel("importance (fANOVA, normalised per outer split)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def search_section(run: RunFiles) -> str | None:
    """The section's HTML, or None for a run that is not a search."""
    layout = SearchLayout(run.path)
    if not layout.trials.is_file() or not layout.summary.is_file():
        return None
    summary = json.loads(layout.summary.read_text())
    model = str(summary.get("model", "searched"))
    trials = pd.read_csv(layout.trials, dtype={"split": str})
    metric = run.primary
    label = LABELS.get(metric, metric)
    maximize = run.task.higher_is_better.get(metric, True)
    outer = (run.metrics.get("per_split") or {}).get(model) or []
    rows = []
    for i, (split, s) in enumerate((summary.get("splits") or {}).items()):
        counts = s.get("trials") or {}
        test = outer[i].get(metric) if i < len(outer) else None
        rows.append(
            [
                escape(split),
                str(s.get("best_trial")),
                _fmt(s.get("best_inner_score")),
                _fmt(test),
                ", ".join(f"{n} {k.lower()}" for k, n in counts.items()),
                f"{float(s.get('seconds', 0.0)):.0f} s",
                f"<code>{escape(str(s.get('best_config', '')))}</code>",
            ]
        )
    header = [
        "outer split",
        "best trial",
        f"mean inner {label}",
        f"outer test {label}",
        "trials",
        "search time",
        "best configuration",
    ]
    intro = (
        f"<p>For each outer split, the search ran on that split's training part alone: every "
        f"trial was trained and scored on inner splits of it. The best trial's configuration "
        f"was then retrained on the whole training part and scored once on the outer test "
        f"part: the <b>{escape(model)}</b> row of the leaderboard. Its inner score is "
        f"optimistic (it is the maximum over trials); the outer test score is not. Each best "
        f"configuration is a plain run config (<code>biozoo train</code> runs it).</p>"
    )
    html = intro + f'<div class="scroll">{table(header, rows)}</div>'
    figs = [
        figure(
            history_figure(trials, maximize=maximize, metric=label),
            "search-history",
            f"Optimisation history: each trial's mean inner {escape(label)} (dots) and the "
            "best so far (line), per outer split.",
        )
    ]
    importance = _read_importance(layout)
    if importance is not None:
        figs.append(
            figure(
                importance_figure(importance),
                "search-importance",
                "Parameter importance: how much of the inner score's variance over trials "
                "each parameter explains (mean over outer splits; dots: each split).",
            )
        )
    else:
        html += note("Too few trials finished to estimate the parameters' importance.")
    return html + f'<div class="grid">{"".join(figs)}</div>'


def _read_importance(layout: SearchLayout) -> pd.DataFrame | None:
    if not layout.importance.is_file():
        return None
    frame = pd.read_csv(layout.importance, dtype={"split": str, "parameter": str})
    return frame if len(frame) else None


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) and np.isfinite(value) else "n/a"
