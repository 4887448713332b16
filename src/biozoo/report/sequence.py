"""Figures of sequence outputs: accuracy by target length, and cross-attention maps.

- Per-residue accuracy of every method against the true length of the target, pooled over
  the held-out predictions of every split (``y_true`` and ``y_pred`` of ``predictions.csv``).
- The cross-attention of an encoder-decoder (``cross_attention/<model>.csv``, written by the
  run): for the first sample of the first split, each decoded residue (row) over the input
  tokens (columns), first ensemble member. A model that has learnt the genetic code shows the
  codon diagonal: residue ``i`` on nucleotides ``3i .. 3i + 2``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from biozoo.report.plots import COLOURS
from biozoo.tasks.sequence import sequence_scores

__all__ = ["accuracy_by_length_figure", "cross_attention_figure", "cross_attention_maps"]


def accuracy_by_length_figure(preds: pd.DataFrame, methods: list[str], bins: int = 8) -> Figure:
    """Per-residue accuracy of each method in equal-width bins of the true length."""
    lengths = preds["y_true"].astype(str).str.len()
    edges = np.unique(np.linspace(lengths.min(), lengths.max() + 1, bins + 1).astype(int))
    band = np.clip(np.searchsorted(edges, lengths, side="right") - 1, 0, len(edges) - 2)
    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.add_subplot()
    mid = (edges[:-1] + edges[1:] - 1) / 2
    for i, method in enumerate(methods):
        rows = preds["method"] == method
        acc = []
        for b in range(len(edges) - 1):
            keep = rows & (band == b)
            true = preds.loc[keep, "y_true"].astype(str).tolist()
            pred = preds.loc[keep, "y_pred"].fillna("").astype(str).tolist()
            acc.append(sequence_scores(true, pred)["residue_accuracy"] if true else np.nan)
        ax.plot(mid, acc, marker="o", color=COLOURS[i % len(COLOURS)], label=method)
    ax.set_xlabel("true length (residues)")
    ax.set_ylabel("per-residue accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def cross_attention_maps(run_dir: Path) -> dict[str, pd.DataFrame]:
    """model -> its cross-attention rows (``cross_attention/<model>.csv``), if any."""
    folder = Path(run_dir) / "cross_attention"
    if not folder.is_dir():
        return {}
    return {p.stem: pd.read_csv(p, dtype={"sample_id": str}) for p in sorted(folder.glob("*.csv"))}


def cross_attention_figure(frame: pd.DataFrame, model: str) -> Figure:
    """The first sample's map (first split, member 0): decoded residues x input tokens."""
    first = frame.iloc[0]
    rows = frame[
        (frame["split"] == first["split"])
        & (frame["sample_id"] == first["sample_id"])
        & (frame["member"] == first["member"])
    ]
    grid = rows.pivot_table(index="query", columns="key", values="weight", aggfunc="mean")
    queries = rows.drop_duplicates("query").set_index("query")["query_token"]
    keys = rows.drop_duplicates("key").set_index("key")["key_token"]
    width = min(12.0, 2.0 + 0.09 * grid.shape[1])
    fig = Figure(figsize=(width, 1.4 + 0.16 * grid.shape[0]))
    ax = fig.add_subplot()
    image = ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis", vmin=0)
    ax.set_yticks(range(grid.shape[0]), [str(queries[q]) for q in grid.index], fontsize=6)
    ax.set_xticks(range(grid.shape[1]), [str(keys[k]) for k in grid.columns], fontsize=5)
    ax.set_xlabel("input token")
    ax.set_ylabel("decoded residue")
    ax.set_title(f"{model}: sample {first['sample_id']}", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    fig.tight_layout()
    return fig
