"""Fold parts: the transform that turns one modality into its encoder's input.

Every modality of a run gets one *part*, fitted on the training samples of each split and
applied to every sample. A part follows one contract:

- ``fit(mod, y, task)`` on the training part of a split only;
- ``transform(mod)`` -> the encoder's input (a tensor, a dict of tensors, or a graph source);
- ``flat(mod)`` -> a float32 matrix for the classical baselines;
- ``input_info`` -> what the encoder is built with (``in_dim``: an int for a table, a dict
  naming the input kind otherwise);
- ``state()`` / ``from_state(arrays, meta)`` to save it with the run.

Which part a modality gets follows from its config: a table becomes a matrix
(:class:`TablePart`), tokens (``tokenizer``) or node values on a feature graph (``graph``);
sequences, series and molecules have their own part.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ValidationError

from biozoo.config import ModalityConfig
from biozoo.data.cohort import TableModality
from biozoo.data.transforms import TableTransform
from biozoo.tasks import Task

__all__ = ["TablePart", "part_class", "part_for", "validate_modality"]


class TablePart:
    """A table as a standardised matrix: :class:`TableTransform` behind the part contract."""

    type = "table"

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
        values = mod.values
        if mod.features != self.table.input_features:
            values = self.table.align(values, mod.features, source=mod.source)
        x = self.table.transform(values)
        x[~mod.present] = 0.0
        return x

    def transform(self, mod: TableModality) -> torch.Tensor:
        return torch.from_numpy(self.matrix(mod))

    def flat(self, mod: TableModality) -> np.ndarray:
        return self.matrix(mod)

    @property
    def input_info(self) -> int:
        return self.table.n_out

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


def part_class(type_name: str) -> type:
    """The part class saved under ``type_name`` (imports lazily: some need RDKit or PyG)."""
    if type_name == "table":
        return TablePart
    if type_name == "gene_rank":
        from biozoo.data.tokenizers import GeneRankTokenizer

        return GeneRankTokenizer
    if type_name == "omics_groups":
        from biozoo.data.tokenizers import OmicsGroupsTokenizer

        return OmicsGroupsTokenizer
    if type_name == "feature_graph":
        from biozoo.data.feature_graph import FeatureGraphTransform

        return FeatureGraphTransform
    if type_name == "sequence":
        from biozoo.data.sequences import SequenceTransform

        return SequenceTransform
    if type_name == "series":
        from biozoo.data.series import SeriesTransform

        return SeriesTransform
    if type_name == "molecule":
        from biozoo.data.molecules import MoleculeTransform

        return MoleculeTransform
    raise KeyError(type_name)


TOKENIZERS = ("gene_rank", "omics_groups")


def _type_and_options(cfg: ModalityConfig) -> tuple[str, dict[str, Any]]:
    table = cfg.transforms.model_dump()
    if cfg.kind == "table":
        if cfg.tokenizer is not None:
            return cfg.tokenizer.name, cfg.tokenizer.options
        if cfg.graph is not None:
            return "feature_graph", {**cfg.graph, "table": table}
        return "table", table
    return cfg.kind, dict(getattr(cfg, cfg.kind) or {})


def part_for(cfg: ModalityConfig) -> Any:
    """A fresh (unfitted) part for a modality's config."""
    type_name, options = _type_and_options(cfg)
    return part_class(type_name)(**options)


def validate_modality(cfg: ModalityConfig, where: str) -> None:
    """Check a modality's tokenizer / graph / reader options; ValueError names the key."""
    if cfg.tokenizer is not None and cfg.tokenizer.name not in TOKENIZERS:
        close = difflib.get_close_matches(cfg.tokenizer.name, TOKENIZERS, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(TOKENIZERS)}."
        raise ValueError(
            f"{where}.tokenizer.name: unknown tokenizer {cfg.tokenizer.name!r}; {hint}"
        )
    type_name, options = _type_and_options(cfg)
    if type_name == "table":
        return
    cls = part_class(type_name)
    section = {"feature_graph": "graph", **{t: "tokenizer" for t in TOKENIZERS}}.get(
        type_name, type_name
    )
    schema: type[BaseModel] | None = getattr(cls, "Config", None)
    if schema is None:
        return
    if type_name == "feature_graph":
        options = {k: v for k, v in options.items() if k != "table"}
    try:
        schema(**options)
    except ValidationError as err:
        e = err.errors()[0]
        key = ".".join(str(p) for p in e["loc"])
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        raise ValueError(f"{where}.{section}.{key}: {msg}") from None
