"""The ``predefined`` split kind: a data set's own train / test split, read from its labels.

``split: {kind: predefined, column: split}`` reads the column ``split`` from the same source
as the target (the file of ``data.target.path``, with its ``id_column`` and ``format``, or
the label columns of the bundled ``data.target.dataset``), by sample id. Each value says
which side a sample is on:

- ``train``: a training sample;
- ``test``: a test sample;
- ``val``: a training sample that early stopping validates on (the inner validation split
  is then this set, not a random draw); the classical baselines train on it as on ``train``.

Values are read case-insensitively with surrounding spaces removed. A list of columns
(``column: [split1, split2]``) gives one split per column, named by the column, e.g. the
folds of a published cross-validation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from biozoo.data.sources.datasets import dataset_target
from biozoo.data.splits import SPLIT_KINDS, Split, SplitConfig, check_split
from biozoo.data.table.read import read_labels
from biozoo.errors import BiozooError

if TYPE_CHECKING:
    from biozoo.data.cohort import Cohort
    from biozoo.data.spec import TargetConfig

__all__ = ["PredefinedSplits", "SIDES", "read_split_column"]

SIDES = ("train", "test", "val")
"""The values a predefined split column may hold."""


@SPLIT_KINDS.register("predefined")
class PredefinedSplits:
    """One split per column of the target's source, exactly as the column says."""

    def __init__(self, cfg: SplitConfig) -> None:
        check_split(cfg, "predefined", {"column"})
        if not cfg.columns:
            raise ValueError(
                "split kind 'predefined' needs 'column', the column of the "
                "target file that says train, test or val"
            )
        self.columns = cfg.columns

    @property
    def count(self) -> int:
        return len(self.columns)

    def make(self, cohort: Cohort, *, seed: int, target: TargetConfig | None = None) -> list[Split]:
        """The splits the columns prescribe (``seed`` is not used: nothing is drawn).

        Raises:
            BiozooError: a value is missing or not one of :data:`SIDES`, or a split has no
                test or no training samples; the message names the file and the column.
        """
        if target is None:
            raise ValueError("a predefined split reads its column from the target's source")
        ids = pd.Index(cohort.ids)
        return [_split(column, *read_split_column(target, column), ids) for column in self.columns]


def read_split_column(target: TargetConfig, column: str) -> tuple[pd.Series, str]:
    """The split column, indexed by sample id, and where it was read from.

    Raises:
        BiozooError: the file or the column is missing.
    """
    if target.dataset is not None:
        return dataset_target(target.dataset, column), f"dataset {target.dataset!r}"
    assert target.path is not None  # the config allows exactly one of path / dataset
    values = read_labels(target.path, column, format=target.format, id_column=target.id_column)
    return values, str(target.path)


def _split(column: str, values: pd.Series, source: str, ids: pd.Index) -> Split:
    where = f"split column {column!r} of {source}"
    sides = values.reindex(ids)
    text = sides.map(lambda v: str(v).strip().lower(), na_action="ignore")
    missing = text.isna().to_numpy()
    if missing.any():
        raise BiozooError(
            f"{where} has no value for sample {ids[np.argmax(missing)]!r}; give each sample "
            f"train, test or val."
        )
    unknown = ~text.isin(SIDES).to_numpy()
    if unknown.any():
        first = int(np.argmax(unknown))
        raise BiozooError(
            f"{where} has the value {sides.iloc[first]!r} (sample {ids[first]!r}); use train, "
            f"test or val."
        )
    side = text.to_numpy(dtype=object)
    test = np.flatnonzero(side == "test")
    train = np.flatnonzero(side != "test")
    val = np.flatnonzero(side == "val")
    if len(test) == 0 or len(train) == len(val):
        lacking = "test" if len(test) == 0 else "train"
        raise BiozooError(f"{where} has no {lacking} rows among the {len(ids)} samples.")
    return Split(column, train, test, val if len(val) else None)
