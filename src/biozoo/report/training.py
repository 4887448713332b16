"""The report's "Training" section: every member's loss curves, per deep model and split.

It reads ``history/<model>/<split>.csv`` (:mod:`biozoo.train.history`) and each member's
kept epoch from ``metrics.json["training"]``. One figure per deep model, one column of
panels per split (wrapping after :data:`COLUMNS`): the top panel has each member's training
loss (dashed) and validation loss (solid) as thin lines, with a dot where the member's kept
weights come from; a lower panel has the validation ROC AUC where the run recorded it. All
panels of a model share their axes, so splits compare at a glance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from biozoo.report.blocks import figure, note, swatch, table
from biozoo.report.run_files import RunFiles
from biozoo.train.runfolder import RunLayout

__all__ = ["COLUMNS", "read_histories", "training_figure", "training_section"]

COLUMNS = 5
"""Split panels per row of a model's figure."""

_METRIC = "val_roc_auc"


def read_histories(run_dir: Path, models: Sequence[str], splits: Sequence[str]) -> dict:
    """``model -> split -> history frame`` of a run folder, in run order.

    Args:
        run_dir: the run folder.
        models: deep models in run order (others found under ``history/`` follow, sorted).
        splits: split names in run order (others follow, sorted).

    Returns:
        Only the models and splits that have a history file.
    """
    root = RunLayout(Path(run_dir)).history_dir
    if not root.is_dir():
        return {}
    found = sorted(p.name for p in root.iterdir() if p.is_dir())
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for model in [m for m in models if m in found] + [m for m in found if m not in models]:
        names = sorted(p.stem for p in (root / model).glob("*.csv"))
        ordered = [s for s in splits if s in names] + [s for s in names if s not in splits]
        frames = {s: pd.read_csv(root / model / f"{s}.csv") for s in ordered}
        if frames:
            out[model] = frames
    return out


def kept_epochs(history: pd.DataFrame, summary: Mapping | None) -> dict[int, int]:
    """``member -> kept epoch``: ``best_epoch`` of the run's summary, else the lowest val loss."""
    best = list((summary or {}).get("best_epoch") or [])
    members = sorted(history["member"].unique())
    if len(best) == len(members):
        return {int(m): int(e) for m, e in zip(members, best, strict=True)}
    lowest = history.loc[history.groupby("member")["val_loss"].idxmin()]
    return dict(zip(lowest["member"].astype(int), lowest["epoch"].astype(int), strict=True))


def training_figure(
    histories: Mapping[str, pd.DataFrame],
    kept: Mapping[str, Mapping[int, int]],
    *,
    colour: str,
    title: str,
) -> Figure:
    """One deep model's training curves: a column of panels per split, members overlaid.

    Args:
        histories: ``split -> history frame`` (columns ``epoch``, ``member``, ``train_loss``,
            ``val_loss``, optionally ``val_roc_auc``).
        kept: ``split -> member -> kept epoch`` (marked with a dot).
        colour: the model's colour.
        title: the figure's title.

    Returns:
        A figure of ``ceil(splits / COLUMNS)`` bands, each a loss row (and a validation ROC
        AUC row when recorded), with one legend below.
    """
    splits = list(histories)
    with_metric = all(_METRIC in h for h in histories.values())
    ncols = min(COLUMNS, len(splits))
    bands = -(-len(splits) // ncols)
    kinds = ["loss", "metric"] if with_metric else ["loss"]
    heights = [2.1 if k == "loss" else 1.3 for k in kinds] * bands
    fig = Figure(figsize=(1.2 + 2.3 * ncols, 1.0 + sum(heights)), layout="constrained")
    axes = fig.subplots(len(heights), ncols, squeeze=False, sharex=True, height_ratios=heights)
    for row in range(len(kinds)):  # loss panels share one y axis, metric panels another
        same = axes[row :: len(kinds)].ravel()
        for ax in same[1:]:
            ax.sharey(same[0])
    for i, split in enumerate(splits):
        band, col = divmod(i, ncols)
        rows = axes[band * len(kinds) : (band + 1) * len(kinds), col]
        _draw_split(rows, histories[split], kept.get(split, {}), colour=colour)
        last = int(histories[split]["epoch"].max()) + 1 if len(histories[split]) else 0
        rows[0].set_title(f"{split} · {last} epochs", fontsize=9)
        for ax, kind in zip(rows, kinds, strict=True):
            ax.tick_params(labelsize=7, labelleft=col == 0)
            if col == 0:
                ax.set_ylabel("loss" if kind == "loss" else "val ROC AUC", fontsize=8)
        rows[-1].set_xlabel("epoch", fontsize=8)
    for j in range(len(splits), bands * ncols):
        band, col = divmod(j, ncols)
        for ax in axes[band * len(kinds) : (band + 1) * len(kinds), col]:
            ax.set_visible(False)
    handles = [
        Line2D([], [], color=colour, lw=0.9, ls="--", alpha=0.55, label="training loss"),
        Line2D([], [], color=colour, lw=0.9, label="validation loss"),
        Line2D([], [], color=colour, lw=0, marker="o", ms=4, mec="white", label="kept epoch"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


def _draw_split(rows, history: pd.DataFrame, kept: Mapping[int, int], *, colour: str) -> None:
    for member, curve in history.groupby("member", sort=True):
        curve = curve.sort_values("epoch")
        epoch = curve["epoch"].to_numpy()
        rows[0].plot(epoch, curve["train_loss"], color=colour, lw=0.7, ls="--", alpha=0.55)
        rows[0].plot(epoch, curve["val_loss"], color=colour, lw=0.8, alpha=0.9)
        marks = [(rows[0], "val_loss")] + ([(rows[1], _METRIC)] if len(rows) > 1 else [])
        if len(rows) > 1:
            rows[1].plot(epoch, curve[_METRIC], color=colour, lw=0.8, alpha=0.9)
        at = curve[curve["epoch"] == kept.get(int(member), -1)]
        for ax, column in marks:
            ax.plot(at["epoch"], at[column], ls="", marker="o", ms=4, color=colour, mec="white")


def _epoch_budget(run: RunFiles) -> tuple[object, object]:
    training = run.config.get("training") or {}
    return training.get("epochs", "?"), training.get("patience", "?")


def _summary_rows(run: RunFiles, models: Sequence[str], histories: Mapping) -> list[list[str]]:
    """Per deep model: epochs run per split, kept epochs, splits that used the whole budget."""
    budget, _ = _epoch_budget(run)
    rows = []
    for model in models:
        summaries = (run.metrics.get("training") or {}).get(model) or []
        runs = [int(s["epochs_run"]) for s in summaries if isinstance(s.get("epochs_run"), int)]
        best = [int(e) for s in summaries for e in s.get("best_epoch") or []]
        if not runs and model in histories:  # no summary: read the curves
            frames = histories[model].values()
            runs = [int(h["epoch"].max()) + 1 for h in frames if len(h)]
            best = [e for h in frames for e in kept_epochs(h, None).values()]
        full = sum(r == budget for r in runs)
        rows.append(
            [
                swatch(run.colours.get(model)) + escape(model),
                ", ".join(map(str, runs)) or "n/a",
                f"{int(np.median(best))} [{min(best)}–{max(best)}]" if best else "n/a",
                f"{full} of {len(runs)}" if runs else "n/a",
            ]
        )
    return rows


def training_section(run: RunFiles) -> str | None:
    """The "Training" section's HTML, or None for a run without deep models."""
    training = run.metrics.get("training") or {}
    models = list(training) or list(run.config.get("models") or {})
    splits = [str(s) for s in run.metrics.get("splits") or []]
    histories = read_histories(run.path, models, splits)
    models += [m for m in histories if m not in models]
    if not models:
        return None
    budget, patience = _epoch_budget(run)
    val_fraction = (run.config.get("training") or {}).get("val_fraction", "?")
    members = run.metrics.get("members") or {}
    link = (
        " Single members' held-out test scores, next to their ensemble's: "
        '<a href="#members">Ensemble and single members</a> (in Paired comparison).'
        if members
        else ""
    )
    intro = (
        "<p>Every member of every deep model, per split, one thin line each: the training "
        "loss (dashed; the mean over the epoch's mini-batches, with dropout on, while the "
        "weights change) and the validation loss (solid) on the inner validation part "
        f"({escape(str(val_fraction))} of each split's training part) that early stopping "
        "watches. A dot marks the epoch whose weights a member kept: its lowest validation "
        f"loss. A member waits {escape(str(patience))} epochs for an improvement; training "
        f"stops when no member has improved for that long, or after {escape(str(budget))} "
        "epochs. A validation loss that climbs while the training loss falls is over-fitting; "
        f"both high and flat is under-fitting.{link} Per-epoch values: "
        "<code>history/&lt;model&gt;/&lt;split&gt;.csv</code>.</p>"
    )
    header = ["deep model", "epochs run, per split", "kept epoch: median [range]", "full budget"]
    html = intro + f'<div class="scroll">{table(header, _summary_rows(run, models, histories))}'
    html += "</div>"
    if not histories:
        return html + note(
            "No history/ in this run folder: it was written before biozoo recorded training "
            "curves, so only the summary above (from metrics.json) is shown."
        )
    loss = "cross-entropy" if run.classes else "mean squared error of the standardised target"
    figs = []
    for i, (model, frames) in enumerate(histories.items()):
        per_split = {str(s.get("split")): s for s in training.get(model) or []}
        kept = {split: kept_epochs(h, per_split.get(split)) for split, h in frames.items()}
        metric = "and validation ROC AUC " if all(_METRIC in h for h in frames.values()) else ""
        fig = training_figure(frames, kept, colour=run.colours.get(model, "#1f77b4"), title=model)
        caption = (
            f"{escape(model)}: loss ({loss}) {metric}per epoch, one column per split, "
            "members overlaid."
        )
        figs.append(figure(fig, f"training-{i}", caption, wide=True))
    return html + f'<div class="grid">{"".join(figs)}</div>'
