"""The ``table`` kind: samples x features, from a file or a bundled dataset.

A table is read from CSV/TSV/parquet (samples as rows, or as columns with
``transpose: true``), AnnData ``.h5ad`` or one ``mod`` of a MuData ``.h5mu``; ``dataset``
names a bundled table as ``<dataset>/<table>``. It is fed to its encoder through one of its
views: a standardised matrix (``matrix``, the default, options under ``transforms:``), ranked
gene tokens or groups of features (``tokenizer: {name: gene_rank | omics_groups, ...}``), or
node values on a feature graph (``graph: {...}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from biozoo.data.cohort import align_table
from biozoo.data.protocol import ModalityKind, Part, Read, register_modality
from biozoo.data.sources.datasets import dataset_table
from biozoo.data.spec import ModalityConfig, PartSpec, TransformConfig, nested_error
from biozoo.data.table.feature_graph import FeatureGraphTransform
from biozoo.data.table.gene_rank import GeneRankTokenizer
from biozoo.data.table.matrix import TablePart
from biozoo.data.table.omics_groups import OmicsGroupsTokenizer
from biozoo.data.table.read import read_table, resolve_format
from biozoo.errors import BiozooError
from biozoo.registry import Registry

__all__ = ["TABLE_VIEWS", "TableConfig", "read_modality"]

TABLE_VIEWS: Registry[type[Part]] = Registry("table view")
TABLE_VIEWS.register("matrix")(TablePart)
TABLE_VIEWS.register("gene_rank")(GeneRankTokenizer)
TABLE_VIEWS.register("omics_groups")(OmicsGroupsTokenizer)
TABLE_VIEWS.register("feature_graph")(FeatureGraphTransform)


class TableConfig(ModalityConfig):
    """A ``table`` modality: reader options, and the view's options.

    The view follows from the keys: ``tokenizer`` (a tokenizer view by name with its
    options), ``graph`` (the ``feature_graph`` view's options) or neither (``matrix``);
    ``transforms`` are the matrix's, also used under a feature graph.
    """

    kind: Literal["table"] = "table"
    transpose: bool = False
    mod: str | None = None
    layer: str | None = None
    transforms: TransformConfig = Field(default_factory=TransformConfig)
    tokenizer: PartSpec | None = None
    graph: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _view(self) -> Self:
        if self.view is not None:
            raise ValueError("a table picks its view with 'tokenizer' or 'graph', not 'view'")
        if self.tokenizer is not None and self.graph is not None:
            raise ValueError("give either 'tokenizer' or 'graph', not both")
        if self.tokenizer is not None and self.tokenizer.name not in TABLE_VIEWS:
            msg = TABLE_VIEWS.unknown_message(self.tokenizer.name)
            raise PydanticCustomError(
                "nested", "{loc}: {msg}", {"loc": "tokenizer.name", "msg": msg}
            )
        if self.tokenizer is not None:
            self.check_view_options("tokenizer")
        elif self.graph is not None:
            try:
                FeatureGraphTransform.Config(**self.graph)
            except ValidationError as err:
                raise nested_error(err, "graph") from None
        return self

    def view_spec(self) -> tuple[str, dict[str, Any]]:
        table = self.transforms.model_dump()
        if self.tokenizer is not None:
            return self.tokenizer.name, self.tokenizer.options
        if self.graph is not None:
            return "feature_graph", {**self.graph, "table": table}
        return "matrix", table

    def resolved(self, base: Path) -> Self:
        """Also makes the gene-set file (``tokenizer.gmt``) and edge list (``graph.edges``)
        absolute."""
        out = super().resolved(base)
        update: dict[str, Any] = {}
        if self.tokenizer is not None and self.tokenizer.options.get("gmt"):
            gmt = _absolute(self.tokenizer.options["gmt"], base)
            update["tokenizer"] = PartSpec(**{**self.tokenizer.model_dump(), "gmt": gmt})
        if self.graph is not None and self.graph.get("edges"):
            update["graph"] = {**self.graph, "edges": _absolute(self.graph["edges"], base)}
        return out.model_copy(update=update) if update else out


def _absolute(path: str | Path, base: Path) -> str:
    return str(path) if Path(path).is_absolute() else str((base / path).resolve())


def read_modality(name: str, modality: TableConfig) -> Read:
    """Read a table modality: a bundled dataset's table, or a file."""
    if modality.dataset is not None:
        spec = modality.dataset
        extra = [
            key
            for key, value in (
                ("transpose", modality.transpose),
                ("mod", modality.mod),
                ("layer", modality.layer),
                ("id_column", modality.id_column),
                ("format", None if modality.format == "auto" else modality.format),
            )
            if value
        ]
        if extra:
            raise BiozooError(
                f"modality {name!r} reads bundled table {spec!r}, so option {extra[0]!r} does "
                f"not apply (it is for files given by 'path')."
            )
        return Read(dataset_table(spec), spec, {})
    path = modality.path
    assert path is not None  # the config allows exactly one of path / dataset
    mod = modality.mod
    if mod is None and resolve_format(path, modality.format) == "h5mu":
        mod = name
    table = read_table(
        path,
        format=modality.format,
        transpose=modality.transpose,
        id_column=modality.id_column,
        mod=mod,
        layer=modality.layer,
    )
    return Read(table, str(path), {})


register_modality(
    ModalityKind(
        name="table",
        Config=TableConfig,
        read=read_modality,
        align=align_table,
        views=TABLE_VIEWS,
        default_view="matrix",
    )
)
