"""Build a :class:`~biozoo.data.cohort.Cohort` from a :class:`~biozoo.data.spec.DataConfig`.

Each modality is read by its kind's reader (:data:`~biozoo.data.protocol.MODALITIES`), the
target is read, and samples are aligned by id. The sample order is the order of the target
file, so a cohort is the same from one run to the next whatever the order of the modality
files. Every sample left out is counted in a ``logging`` warning: labels that are missing,
labelled samples present in no modality, samples of the modalities without a label, and
(``missing_modality: drop``) samples lacking some modality.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from biozoo.data.cohort import Cohort
from biozoo.data.protocol import MODALITIES, Read
from biozoo.data.sources.datasets import dataset_target
from biozoo.data.spec import DataConfig, TargetConfig
from biozoo.data.table.read import read_labels
from biozoo.errors import BiozooError

__all__ = ["load_cohort"]

logger = logging.getLogger(__name__)


def load_cohort(data: DataConfig, *, with_target: bool = True) -> Cohort:
    """Read and align the modalities and the target of a data config.

    Args:
        data: the ``data`` section of a run config.
        with_target: read the target. False reads the modalities only (to score new samples):
            the cohort's ``target`` is None and its samples are those present in every
            modality (``missing_modality: drop``) or in any (``keep``), in the order of the
            first modality, then of the next ones for ids not seen before.

    Returns:
        The aligned cohort; modalities in config order. Classification targets are int64
        codes into ``classes`` (sorted labels as str: numbers and bools sort by value, so a
        0/1 or False/True target has the positive class second); regression targets float32.

    Raises:
        BiozooError: a file cannot be read, a modality shares no sample id with the labels,
            no sample is left, or the target does not fit the task.
    """
    reads: dict[str, Read] = {}
    for name, modality in data.modalities.items():
        reads[name] = MODALITIES.get(modality.kind).read(name, modality)
    tables = {name: r.data for name, r in reads.items()}
    sources = {name: r.source for name, r in reads.items()}

    labels: pd.Series | None = None
    target_source = ""
    if with_target:
        labels, target_source = _read_target(data.target)
        ids = _labelled_ids(labels, tables, sources, target_source, data.missing_modality)
    else:
        ids = _unlabelled_ids(tables, data.missing_modality)
    if len(ids) == 0:
        raise BiozooError(
            f"no sample is left after aligning {', '.join(sources.values())}"
            f"{' with ' + target_source if with_target else ''} "
            f"(missing_modality: {data.missing_modality})."
        )

    modalities = {
        name: MODALITIES.get(cfg.kind).align(name, cfg.kind, reads[name], ids)
        for name, cfg in data.modalities.items()
    }
    target, classes, meta = None, None, {}
    if labels is not None:
        column = data.target.column
        target, classes = _encode_target(labels.loc[ids], data.target.task, column, target_source)
        meta = {"target_column": column, "target_source": target_source}
    return Cohort(
        ids=ids.to_numpy(dtype=object),
        modalities=modalities,
        target=target,
        task=data.target.task,
        classes=classes,
        meta=meta,
    )


def _read_target(target: TargetConfig) -> tuple[pd.Series, str]:
    if target.dataset is not None:
        if target.id_column is not None or target.format != "auto":
            raise BiozooError(
                f"target reads bundled dataset {target.dataset!r}, so 'id_column' and 'format' "
                f"do not apply (they are for files given by 'path')."
            )
        return dataset_target(target.dataset, target.column), target.dataset
    assert target.path is not None  # the config allows exactly one of path / dataset
    labels = read_labels(
        target.path, target.column, format=target.format, id_column=target.id_column
    )
    return labels, str(target.path)


def _labelled_ids(
    labels: pd.Series,
    tables: dict[str, pd.DataFrame],
    sources: dict[str, str],
    target_source: str,
    policy: str,
) -> pd.Index:
    """Ids to keep, in label-file order, logging a warning for every group left out."""
    column = labels.name
    missing = labels.isna()
    if missing.any():
        logger.warning(
            "dropped %d samples of %s whose label %r is missing.",
            int(missing.sum()),
            target_source,
            column,
        )
    ids = pd.Index(labels.index[~missing.to_numpy()])
    unlabelled = pd.Index([], dtype=object)
    present = {}
    for name, table in tables.items():
        present[name] = ids.isin(table.index)
        if not labels.index.isin(table.index).any():
            raise BiozooError(
                f"no sample id of modality {name!r} ({sources[name]}) matches a sample id of "
                f"the labels ({target_source}); check the id columns."
            )
        unlabelled = unlabelled.append(table.index[~table.index.isin(labels.index)])
    unlabelled = unlabelled.unique()
    if len(unlabelled):
        logger.warning(
            "%d samples of the modalities have no row in %s (e.g. %r); they are left out.",
            len(unlabelled),
            target_source,
            unlabelled[0],
        )
    matrix = np.column_stack(list(present.values()))  # (n_labelled, n_modalities)
    anywhere = matrix.any(axis=1)
    if not anywhere.all():
        logger.warning(
            "%d labelled samples of %s are in no modality (e.g. %r); they are left out.",
            int((~anywhere).sum()),
            target_source,
            ids[~anywhere][0],
        )
    if policy == "keep":
        return ids[anywhere]
    everywhere = matrix.all(axis=1)
    if (anywhere & ~everywhere).any():
        lacking = ", ".join(
            f"{name} {int((anywhere & ~has).sum())}" for name, has in present.items()
        )
        logger.warning(
            "dropped %d samples lacking some modality (missing_modality: drop); lacking: %s.",
            int((anywhere & ~everywhere).sum()),
            lacking,
        )
    return ids[everywhere]


def _unlabelled_ids(tables: dict[str, pd.DataFrame], policy: str) -> pd.Index:
    """Ids of unlabelled tables: first-table order, then new ids of the next tables."""
    indexes = [pd.Index(t.index) for t in tables.values()]
    ids = indexes[0]
    for other in indexes[1:]:
        keep = policy == "keep"
        ids = ids.append(other[~other.isin(ids)]) if keep else ids[ids.isin(other)]
    if policy == "drop" and len(ids) < max(len(i) for i in indexes):
        logger.warning(
            "kept %d samples present in every modality (missing_modality: drop); sizes: %s.",
            len(ids),
            ", ".join(f"{n} {len(t)}" for n, t in tables.items()),
        )
    return ids


def _encode_target(
    labels: pd.Series, task: str, column: str, source: str
) -> tuple[np.ndarray, list[str] | None]:
    if task == "regression":
        numbers = pd.to_numeric(labels, errors="coerce")
        bad = numbers.isna() & labels.notna()
        if bad.any():
            raise BiozooError(
                f"regression target {column!r} of {source} must be numeric, but sample "
                f"{labels.index[bad.to_numpy()][0]!r} has {labels[bad].iloc[0]!r}."
            )
        return numbers.to_numpy(dtype=np.float32), None

    levels = _sorted_levels(labels)
    names = [_label_str(v) for v in levels]
    if len(levels) < 2:
        raise BiozooError(
            f"target {column!r} of {source} has a single class ({', '.join(names)}); "
            f"{task} classification needs at least 2."
        )
    if task == "binary" and len(levels) != 2:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise BiozooError(
            f"binary target {column!r} of {source} has {len(levels)} classes ({shown}); "
            f"use task 'multiclass' or recode it to 2 classes."
        )
    codes = pd.Index(levels, dtype=object).get_indexer(labels.to_numpy(dtype=object))
    return codes.astype(np.int64), names


def _sorted_levels(labels: pd.Series) -> list[object]:
    """Distinct labels: by value when all are numbers or bools, else by their text."""
    values = list(pd.unique(labels.to_numpy(dtype=object)))
    if all(isinstance(v, bool | np.bool_) for v in values):
        return sorted(values)
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values):
        return sorted(values)
    return sorted(values, key=str)


def _label_str(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.bool_):
        return str(bool(value))
    return str(value)
