"""One fold's data: transforms fitted on its training part, applied to every part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from biozoo.config import DataConfig
from biozoo.data.cohort import Cohort
from biozoo.data.transforms import TableTransform, TargetScaler
from biozoo.train.plan import FoldData

__all__ = ["FittedTransforms", "fit_transforms"]


@dataclass
class FittedTransforms:
    """Per-modality table transforms (and a target scaler for regression) of one fold."""

    tables: dict[str, TableTransform]
    target: TargetScaler | None = None

    @property
    def in_dims(self) -> dict[str, int]:
        return {name: t.n_out for name, t in self.tables.items()}

    def matrices(self, cohort: Cohort, *, align: bool = False) -> dict[str, np.ndarray]:
        """Transformed float32 matrices; rows of samples lacking a modality are zero.

        Args:
            cohort: any samples (a test part, new samples...).
            align: reorder the cohort's columns to the fitted features by name first
                (new data whose columns may come in another order).
        """
        out = {}
        for name, t in self.tables.items():
            mod = cohort.modalities[name]
            values = t.align(mod.values, mod.features, source=mod.source) if align else mod.values
            x = t.transform(values)
            x[~mod.present] = 0.0
            out[name] = x
        return out

    def fold_data(self, cohort: Cohort, *, align: bool = False) -> FoldData:
        """Tensors for the model, with the (scaled) target when the cohort has one."""
        inputs = {k: torch.from_numpy(v) for k, v in self.matrices(cohort, align=align).items()}
        present = {k: torch.from_numpy(m.present.copy()) for k, m in cohort.modalities.items()}
        y = None
        if cohort.target is not None:
            if cohort.task == "regression":
                assert self.target is not None
                y = torch.from_numpy(self.target.transform(cohort.target).astype(np.float32))
            else:
                y = torch.from_numpy(cohort.target.astype(np.int64))
        return FoldData(inputs, present, y)

    def flat(self, cohort: Cohort) -> np.ndarray:
        """All modalities side by side for the classical baselines.

        Where some sample lacks a modality, a presence column is added for it so a baseline
        can tell a zero-filled table from a measured one.
        """
        mats = self.matrices(cohort)
        cols = [mats[n] for n in self.tables]
        for name in self.tables:
            present = cohort.modalities[name].present
            if not present.all():
                cols.append(present.astype(np.float32)[:, None])
        return np.concatenate(cols, axis=1)


def fit_transforms(train: Cohort, data: DataConfig) -> FittedTransforms:
    """Fit each modality's transforms on the training samples that have it."""
    tables = {}
    for name, mod in train.modalities.items():
        # a boolean mask copies the whole table; skip it when every sample has the modality
        rows = slice(None) if mod.present.all() else mod.present
        y = None if train.target is None else train.target[rows]
        t = TableTransform(**data.modalities[name].transforms.model_dump())
        tables[name] = t.fit(mod.values[rows], y, task=train.task, features=mod.features)
    target = None
    if train.task == "regression":
        target = TargetScaler().fit(train.target)
    return FittedTransforms(tables, target)
