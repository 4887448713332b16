"""The files of a finished run folder, read once, and the run-level numbers every section uses.

:class:`RunFiles` is what each section of the report reads: the folder's metrics, config,
versions, leaderboard and held-out predictions, with the task, the methods' kinds and colours,
the split sizes (:func:`split_sizes`) and the paired summary (:func:`summarize_run`). The
sections import it from here; it imports no section.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd
import yaml

import biozoo.report.plots as plots
from biozoo.compare import paired_summary
from biozoo.errors import BiozooError
from biozoo.report.blocks import LABELS
from biozoo.tasks import TASKS, Task
from biozoo.train.runfolder import RunLayout

__all__ = ["RunFiles", "per_split_aligned", "read_run", "split_sizes", "summarize_run"]


@dataclass
class RunFiles:
    """The files of a finished run folder, read once."""

    path: Path
    metrics: dict
    config: dict
    config_text: str
    versions: dict
    board: pd.DataFrame | None
    preds: pd.DataFrame | None

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.path)

    @property
    def task_name(self) -> str:
        return str(self.metrics.get("task", "binary"))

    @property
    def task(self) -> type[Task]:
        """The run's task class (its metric directions and primary metric)."""
        return TASKS.get(self.task_name)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.metrics.get("classes") or []]

    @property
    def kinds(self) -> dict[str, str]:
        """``method -> kind`` from the leaderboard (deep when it has no kind column)."""
        if self.board is None or self.board.empty:
            return {}
        kinds = self.board["kind"] if "kind" in self.board else pd.Series("deep", self.board.index)
        methods = self.board["method"].astype(str)
        return dict(zip(methods, kinds.fillna("").astype(str), strict=True))

    @property
    def colours(self) -> dict[str, str]:
        """One colour per method, by kind and run order (:func:`plots.method_colours`)."""
        kinds = self.kinds
        order = list(self.metrics.get("per_split") or {}) or list(kinds)
        order += [m for m in kinds if m not in order]
        return plots.method_colours([(m, kinds.get(m, "deep")) for m in order])

    @property
    def primary(self) -> str:
        return self.task.primary

    @cached_property
    def sizes(self) -> list[tuple[int, int]]:
        """``(n_train, n_test)`` per split, in run order."""
        splits = [str(s) for s in self.metrics.get("splits") or []]
        if not splits and self.preds is not None and "split" in self.preds:
            splits = list(dict.fromkeys(self.preds["split"].astype(str)))
        return split_sizes(self.path, splits, int(self.metrics.get("n_samples") or 0))

    def paired(self) -> dict:
        """The paired summary of the primary metric (as in ``metrics.json["paired"]``)."""
        metric = self.primary
        return summarize_run(
            self.metrics,
            self.kinds,
            self.sizes,
            metric=metric,
            higher_is_better=self.task.higher_is_better.get(metric, True),
            label=LABELS.get(metric, metric),
        )


def read_run(path: Path) -> RunFiles:
    """Read the files of the run folder at ``path`` (:class:`RunFiles`).

    Raises:
        BiozooError: ``path`` has no ``metrics.json`` (not a finished run folder).
    """
    layout = RunLayout(path)
    if not layout.metrics.is_file():
        raise BiozooError(f"{path} is not a finished biozoo run folder: it has no metrics.json.")
    config_text = _text(layout.config)
    config = yaml.safe_load(config_text) if config_text else {}
    versions = json.loads(_text(layout.versions) or "{}")
    board = pd.read_csv(layout.leaderboard) if layout.leaderboard.is_file() else None
    preds = None
    if layout.predictions.is_file():
        text_cols = {"sample_id": str, "split": str, "method": str, "y_true": str, "y_pred": str}
        preds = pd.read_csv(layout.predictions, dtype=text_cols)
    metrics = json.loads(layout.metrics.read_text())
    return RunFiles(
        path,
        metrics,
        config if isinstance(config, dict) else {},
        config_text,
        versions,
        board,
        preds,
    )


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def split_sizes(run_dir: Path, splits: Sequence[str], n_samples: int) -> list[tuple[int, int]]:
    """``(n_train, n_test)`` per split, from ``splits.csv`` (else the held-out predictions).

    Args:
        run_dir: the run folder.
        splits: split names in run order (``metrics.json["splits"]``).
        n_samples: the cohort's size (used without ``splits.csv``: n_train = n - n_test).

    Returns:
        One pair per split.
    """
    layout = RunLayout(run_dir)
    path = layout.splits_csv
    if path.is_file():
        parts = pd.read_csv(path, dtype=str).groupby(["split", "part"]).size()
        return [(int(parts.get((s, "train"), 0)), int(parts.get((s, "test"), 0))) for s in splits]
    preds = layout.predictions
    tested = pd.Series(dtype=int)
    if preds.is_file():
        rows = pd.read_csv(preds, usecols=["sample_id", "split"], dtype=str)
        tested = rows.drop_duplicates().groupby("split").size()
    return [(n_samples - int(tested.get(s, 0)), int(tested.get(s, 0))) for s in splits]


def summarize_run(
    metrics: Mapping,
    kinds: Mapping[str, str],
    sizes: Sequence[tuple[int, int]],
    *,
    metric: str,
    higher_is_better: bool,
    label: str,
) -> dict:
    """:func:`biozoo.compare.paired_summary` of a run's ``metrics.json``, verdict in words.

    Per-split scores that do not line up with the splits (a hand-edited file) are not paired:
    the summary then compares nothing and its verdict says why.
    """
    per_split = metrics.get("per_split") or {}
    if not per_split_aligned(per_split, sizes):
        per_split = {}
    out = paired_summary(
        per_split,
        kinds,
        sizes,
        metric=metric,
        higher_is_better=higher_is_better,
        label=label,
    )
    if not per_split:
        out["verdict"] = "no paired comparison: metrics.json has no per-split scores to pair"
    return out


def per_split_aligned(per_split: Mapping, sizes: Sequence[tuple[int, int]]) -> bool:
    """Whether every method has one per-split score per split (``sizes``)."""
    return all(len(rows) == len(sizes) for rows in per_split.values())
