"""One fold's data: each modality's part fitted on the training samples, applied to all."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from biozoo.data.batch import FoldData
from biozoo.data.cohort import Cohort
from biozoo.data.protocol import Augments, Part
from biozoo.data.spec import DataConfig, part_for
from biozoo.inputs import InputSpec
from biozoo.tasks import TargetTransform

__all__ = ["FittedTransforms", "fit_transforms"]


@dataclass
class FittedTransforms:
    """Per-modality fitted parts and the target transform of one fold.

    Attributes:
        parts: modality -> fitted part (see :mod:`biozoo.data.table.matrix` for the contract).
        target: the task's target transform (standardisation for regression), fitted on the
            training part.
    """

    parts: dict[str, Part]
    target: TargetTransform

    @property
    def inputs(self) -> dict[str, InputSpec]:
        """What each modality's encoder is built from."""
        return {name: p.input for name, p in self.parts.items()}

    def fold_data(self, cohort: Cohort) -> FoldData:
        """The encoders' inputs, with the (scaled) target when the cohort has one.

        Parts that can augment (:class:`~biozoo.data.protocol.Augments`) ride along; only
        the training feed applies them.
        """
        inputs = {k: p.transform(cohort.modalities[k]) for k, p in self.parts.items()}
        present = {k: torch.from_numpy(m.present.copy()) for k, m in cohort.modalities.items()}
        y, labelled = None, None
        if cohort.target is not None:
            y = torch.from_numpy(self.target.transform(cohort.target))
        if cohort.labelled is not None:
            labelled = torch.from_numpy(cohort.labelled.copy())
        augment = {k: p for k, p in self.parts.items() if isinstance(p, Augments)}
        return FoldData(inputs, present, y, augment=augment, labelled=labelled)

    def flat(self, cohort: Cohort) -> np.ndarray:
        """All modalities side by side as one matrix, for the classical baselines.

        Where some sample lacks a modality, a presence column is added for it so a baseline
        can tell a zero-filled block from a measured one.
        """
        cols = [np.asarray(p.flat(cohort.modalities[n]), np.float32) for n, p in self.parts.items()]
        for name in self.parts:
            present = cohort.modalities[name].present
            if not present.all():
                cols.append(present.astype(np.float32)[:, None])
        return np.concatenate(cols, axis=1)


def fit_transforms(train: Cohort, data: DataConfig) -> FittedTransforms:
    """Fit each modality's part on the training samples."""
    parts = {}
    for name, mod in train.modalities.items():
        parts[name] = part_for(data.modalities[name]).fit(mod, train.target, train.task)
    return FittedTransforms(parts, train.task.fit_target(train.target))
