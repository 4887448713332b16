"""A table fed to its encoder as a standardised matrix (the ``matrix`` view of a table)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from biozoo.data.cohort import TableModality
from biozoo.data.table.transform import TableTransform
from biozoo.inputs import TableInput
from biozoo.tasks import Task

__all__ = ["TablePart", "table_matrix"]


def table_matrix(table: TableTransform, mod: TableModality) -> np.ndarray:
    """``mod`` through a fitted :class:`TableTransform`: float32 ``[n, p]``, zero rows where a
    sample lacks the modality; columns matched to the fitted features by name."""
    values = mod.values
    if list(mod.features) != table.input_features:
        values = table.align(values, mod.features, source=mod.source)
    x = table.transform(values)
    x[~mod.present] = 0.0
    return x


class TablePart:
    """A table as a standardised matrix: :class:`TableTransform` behind the part contract."""

    type: ClassVar[str] = "table/matrix"

    def __init__(self, **options: Any) -> None:
        self.table = TableTransform(**options)

    def fit(self, mod: TableModality, y: np.ndarray | None, task: Task) -> TablePart:
        # a boolean mask copies the whole table; skip it when every sample has the modality
        rows = slice(None) if mod.present.all() else mod.present
        yy = None if y is None else y[rows]
        self.table.fit(mod.values[rows], yy, task=task, features=mod.features)
        return self

    def matrix(self, mod: TableModality) -> np.ndarray:
        """Transformed float32 matrix; zero rows where a sample lacks the modality.

        Columns are matched to the fitted features by name when the table's columns differ
        from those it was fitted on (new data in another column order).
        """
        return table_matrix(self.table, mod)

    def transform(self, mod: TableModality) -> torch.Tensor:
        return torch.from_numpy(self.matrix(mod))

    def flat(self, mod: TableModality) -> np.ndarray:
        return self.matrix(mod)

    @property
    def input(self) -> TableInput:
        return TableInput(self.table.n_out)

    def feature_names(self) -> list[str]:
        """The columns of the transformed matrix: the features kept by selection."""
        return [str(f) for f in self.table.selected_features]

    def token_names(self) -> list[str]:
        """A sequence encoder reads each kept feature as one token."""
        return self.feature_names()

    @property
    def report(self) -> dict[str, Any]:
        return self.table.report

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return self.table.state()

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TablePart:
        part = cls.__new__(cls)
        part.table = TableTransform.from_state(arrays, meta)
        return part
