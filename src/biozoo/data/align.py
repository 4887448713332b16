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
        The aligned cohort; modalities in config order; the target as its task encodes it
        (:meth:`~biozoo.tasks.base.Task.encode_target`: class codes into ``classes``,
        values, or survival's time and event). Samples whose every label column is missing
        are left out (with a warning).

    Raises:
        BiozooError: a file cannot be read, a modality shares no sample id with the labels,
            no sample is left, or the target does not fit the task.
    """
    reads: dict[str, Read] = {}
    for name, modality in data.modalities.items():
        reads[name] = MODALITIES.get(modality.kind).read(name, modality)
    tables = {name: r.data for name, r in reads.items()}
    sources = {name: r.source for name, r in reads.items()}

    labels: pd.DataFrame | None = None
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
    task = data.target.build_task()
    target, classes, meta = None, None, {}
    if labels is not None:
        encoded = task.encode_target(labels.loc[ids], data.target.options(), target_source)
        target, classes = encoded.values, encoded.classes
        meta = {"target_column": ", ".join(labels.columns), "target_source": target_source}
    return Cohort(
        ids=ids.to_numpy(dtype=object),
        modalities=modalities,
        target=target,
        task=task,
        classes=classes,
        meta=meta,
    )


def _read_target(target: TargetConfig) -> tuple[pd.DataFrame, str]:
    """The task's label columns, indexed by sample id, and where they come from."""
    if target.dataset is not None:
        if target.id_column is not None or target.format != "auto":
            raise BiozooError(
                f"target reads bundled dataset {target.dataset!r}, so 'id_column' and 'format' "
                f"do not apply (they are for files given by 'path')."
            )
        columns = [dataset_target(target.dataset, c) for c in target.columns()]
        return pd.concat(columns, axis=1), target.dataset
    assert target.path is not None  # the config allows exactly one of path / dataset
    columns = [
        read_labels(target.path, c, format=target.format, id_column=target.id_column)
        for c in target.columns()
    ]
    return pd.concat(columns, axis=1), str(target.path)


def _labelled_ids(
    labels: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    sources: dict[str, str],
    target_source: str,
    policy: str,
) -> pd.Index:
    """Ids to keep, in label-file order, logging a warning for every group left out."""
    column = ", ".join(str(c) for c in labels.columns)
    missing = labels.isna().all(axis=1)  # a row missing only some columns is the task's call
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


