"""Cohort: samples aligned by id across modalities, with their target."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from biozoo.data.read import Read
from biozoo.tasks import Task

__all__ = [
    "Cohort",
    "Modality",
    "RecordModality",
    "TableModality",
    "align_records",
    "align_table",
]


@dataclass
class TableModality:
    """One table of a cohort, rows aligned to :attr:`Cohort.ids`.

    Attributes:
        name: the modality's name in the config (``gex``, ``clin``...).
        values: float32 array ``[n_samples, n_features]``; NaN marks a missing value. Rows of
            samples that lack the modality (``present`` False) are all NaN.
        features: feature names, one per column.
        present: bool array ``[n_samples]``, False where a sample lacks this modality.
        source: where the table came from (a path or a bundled dataset), for messages.
    """

    name: str
    values: np.ndarray
    features: list[str]
    present: np.ndarray
    source: str = ""

    kind = "table"

    @property
    def n_features(self) -> int:
        return self.values.shape[1]

    def subset(self, index: np.ndarray) -> TableModality:
        return TableModality(
            self.name, self.values[index], self.features, self.present[index], self.source
        )


@dataclass
class RecordModality:
    """A modality with one Python object per sample: a sequence, a series, a molecule, an image.

    Attributes:
        name: the modality's name in the config.
        kind: ``sequence`` (a str), ``series`` (a float array ``[T_i, 1 + C]`` whose column 0
            is the time), ``molecule`` (a SMILES str) or ``image`` (a float32 array
            ``[C, H, W]``).
        records: object array ``[n_samples]``; None where the sample lacks the modality.
        present: bool array ``[n_samples]``.
        source: where the records came from, for messages.
        meta: what the reader learned about the records (e.g. channel names).
    """

    name: str
    kind: str
    records: np.ndarray
    present: np.ndarray
    source: str = ""
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        """Channels of a series; 1 for a string modality (for summaries)."""
        return len(self.meta.get("channels", [None]))  # type: ignore[arg-type]

    def subset(self, index: np.ndarray) -> RecordModality:
        return RecordModality(
            self.name, self.kind, self.records[index], self.present[index], self.source, self.meta
        )


Modality = TableModality | RecordModality


def align_table(name: str, kind: str, read: Read, ids: pd.Index) -> TableModality:
    """The table's rows in ``ids`` order; all-NaN rows where a sample lacks the modality."""
    table, source = read.data, read.source
    pos = table.index.get_indexer(ids)
    present = pos >= 0
    values = table.to_numpy(dtype=np.float32, copy=False)
    if present.all():
        if not np.array_equal(pos, np.arange(len(table))):
            values = np.take(values, pos, axis=0)
    else:
        aligned = np.full((len(ids), values.shape[1]), np.nan, dtype=np.float32)
        aligned[present] = values[pos[present]]
        values = aligned
    features = [str(c) for c in table.columns]
    return TableModality(
        name=name, values=values, features=features, present=present, source=source
    )


def align_records(name: str, kind: str, read: Read, ids: pd.Index) -> RecordModality:
    """The records in ``ids`` order; None where a sample lacks the modality."""
    records = read.data
    pos = records.index.get_indexer(ids)
    present = pos >= 0
    values = records.to_numpy(dtype=object)
    aligned = np.empty(len(ids), dtype=object)
    aligned[present] = values[pos[present]]
    return RecordModality(
        name=name,
        kind=kind,
        records=aligned,
        present=present,
        source=read.source,
        meta=dict(read.meta),
    )


@dataclass
class Cohort:
    """Samples aligned across modalities, with their target.

    Attributes:
        ids: sample ids (str), one per row of every modality.
        modalities: name -> :class:`TableModality` or :class:`RecordModality`, in config
            order.
        target: as the task encodes it (:meth:`~biozoo.tasks.base.Task.encode_target`):
            ``[n_samples]`` int64 class codes or float32 values, ``[n_samples, 2]`` time and
            event for survival. ``None`` for a cohort read only to be scored.
        task: the task (:mod:`biozoo.tasks`).
        classes: class labels (as str) in code order; ``None`` for tasks without classes.
        labelled: bool ``[n_samples]``, False for a sample kept without a label
            (``unlabelled: keep``; its ``target`` row is a zero placeholder); ``None`` when
            every sample is labelled.
    """

    ids: np.ndarray
    modalities: dict[str, Modality]
    target: np.ndarray | None
    task: Task
    classes: list[str] | None = None
    meta: dict[str, object] = field(default_factory=dict)
    labelled: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_samples(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray) -> Cohort:
        """The cohort restricted to rows ``index`` (integer positions)."""
        index = np.asarray(index)
        return Cohort(
            ids=self.ids[index],
            modalities={k: m.subset(index) for k, m in self.modalities.items()},
            target=None if self.target is None else self.target[index],
            task=self.task,
            classes=self.classes,
            meta=self.meta,
            labelled=None if self.labelled is None else self.labelled[index],
        )

    def labelled_positions(self) -> np.ndarray:
        """Positions of the samples with a label (every position when all have one)."""
        if self.labelled is None:
            return np.arange(len(self))
        return np.flatnonzero(self.labelled)

    def labelled_part(self) -> Cohort:
        """The cohort without its unlabelled samples (itself when all are labelled)."""
        return self if self.labelled is None else self.subset(self.labelled_positions())

    @property
    def n_classes(self) -> int | None:
        """Number of classes, or None for tasks without classes."""
        return len(self.classes) if self.classes else None

    @property
    def stratify_labels(self) -> np.ndarray | None:
        """Labels to stratify splits on (the task's choice), or None."""
        return None if self.target is None else self.task.stratify_labels(self.target)
