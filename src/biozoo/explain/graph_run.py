"""GNNExplainer on a run's graph models: important atoms and bonds of a few test molecules.

For every deep model that reads a single ``molecule`` modality (the case
:class:`~biozoo.explain.graph.GraphModelFunction` covers), the first split's ensemble explains
the first ``n_samples`` test molecules of that split, members' masks averaged. Written to
``explanations/<model>/``: ``node_importance.csv`` (with each atom's element),
``edge_importance.csv`` and ``molecules/<sample>.svg`` (the structure with atoms shaded by
importance), which the report shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from biozoo.config import RunConfig
from biozoo.data.cohort import Cohort
from biozoo.data.spec import view_class
from biozoo.explain.graph import GraphExplanation, explain_graphs
from biozoo.fusion import FUSIONS
from biozoo.train.saved_run import SavedRun

__all__ = ["graph_models", "run_graph_explanations"]


def graph_models(cfg: RunConfig, names: Sequence[str]) -> dict[str, str]:
    """model -> its molecule modality, for the models that read one molecule modality only."""
    molecules = [
        m
        for m, c in cfg.data.modalities.items()
        if getattr(view_class(c), "molecule_graphs", False)  # not the descriptors table
    ]
    if len(cfg.data.modalities) != 1 or not molecules:
        return {}
    early = {name for name in names if FUSIONS.get(cfg.models[name].fusion.name).early}
    return {name: molecules[0] for name in names if name not in early}


def run_graph_explanations(
    run: SavedRun,
    model: str,
    modality: str,
    cohort: Cohort,
    rows: dict[str, dict[str, np.ndarray]] | None = None,
    *,
    n_samples: int = 6,
    epochs: int = 100,
) -> GraphExplanation:
    """Node and edge importances of the first test molecules of the model's first split.

    ``rows`` is :meth:`SavedRun.split_rows` of ``cohort``, if already read.
    """
    first = next(run.test_splits(model, cohort, rows))
    saved, test = first.saved, first.test
    present = cohort.modalities[modality].present[test]
    chosen = test[np.flatnonzero(present)[:n_samples]]
    source = saved.transforms.fold_data(cohort.subset(chosen)).inputs[modality]
    members = saved.members()
    part = saved.transforms.parts[modality]
    return explain_graphs(
        members,
        [source[i] for i in range(len(chosen))],
        modality=modality,
        mode=cohort.task.graph_explainer_mode,
        sample_ids=[str(s) for s in cohort.ids[chosen]],
        smiles=list(cohort.modalities[modality].records[chosen]),
        add_hs=bool(getattr(part, "add_hs", False)),
        epochs=epochs,
    )
